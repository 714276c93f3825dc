"""Releases (ReleaseSettings): publishing bundles, the limits and trusted keys of reading
them, and Airflow's API for runs in progress."""

from __future__ import annotations

from typing import Any

from pydantic import (
    Field,
    SecretStr,
)

from processing_core.config.concern import _Concern
from processing_core.environment import comma_separated


class ReleaseSettings(_Concern):
    """Bundles: publishing to the artifact repository, and the limits of unpacking one."""

    # Publishing DAG bundles to an artifact repository (Artifactory).
    artifactory_token: SecretStr | None = Field(
        default=None, description="Access token for publishing bundles (never shown)."
    )

    artifactory_username: str | None = Field(
        default=None, description="User for publishing bundles, with ARTIFACTORY_PASSWORD."
    )

    artifactory_password: SecretStr | None = Field(
        default=None, description="Password of ARTIFACTORY_USERNAME (never shown)."
    )

    airflow_api_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="Airflow's API server, e.g. `http://airflow-api:8080`: `prune` asks it which "
        "versions have runs in progress (default: Airflow's metadata database, where installed); "
        "the triggerer's RabbitMQ trigger asks it which messages are events already.",
    )
    airflow_api_token: SecretStr | None = Field(
        default=None, description="Bearer token for AIRFLOW_API_URL (never shown)."
    )
    bundle_max_file_bytes: int = Field(
        default=16 << 20,
        gt=0,
        description="Largest file a DAG bundle may unpack to; `verify` and `install` refuse "
        "bigger ones (a zip bomb is refused before it is unpacked).",
    )

    bundle_max_total_bytes: int = Field(
        default=256 << 20,
        gt=0,
        description="Largest total a DAG bundle may unpack to (`verify`, `install`).",
    )

    bundle_trusted_keys: str = Field(
        default="",
        description="Public keys whose signatures bundles must carry, comma-separated: each an "
        "Ed25519 key as `ssh-ed25519 AAAA...` or a file of such lines (or a PEM public key). "
        "When set, `verify`, `install`, `publish` and the artifact-repository DAG bundle refuse "
        "bundles that are unsigned or signed by another key.",
    )

    bundle_signing_key_passphrase: SecretStr | None = Field(
        default=None,
        description="Passphrase of the private key `bundle --sign` and `keygen` use (never shown).",
    )

    bundle_fetch_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="The most one download of the artifact-repository DAG bundle may take, "
        "from connecting to its last byte.",
    )

    bundle_refresh_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="The most one refresh of the artifact-repository DAG bundle spends "
        "downloading archives; what it could not fetch waits for the next refresh.",
    )

    bundle_max_index_bytes: int = Field(
        default=8 << 20,
        gt=0,
        description="Largest `index.json` the artifact-repository DAG bundle reads.",
    )

    bundle_max_index_entries: int = Field(
        default=10_000,
        gt=0,
        description="Most versions an `index.json` may list for the artifact-repository DAG "
        "bundle (every distribution together).",
    )

    def trusted_keys(self, *more: str) -> Any:
        """BUNDLE_TRUSTED_KEYS and `more` (a `release.signing.TrustedKeys`; empty: signatures
        are not required). SigningError names a key that cannot be read."""
        from processing_core.release.signing import TrustedKeys

        return TrustedKeys.from_items([*comma_separated(self.bundle_trusted_keys), *more])
