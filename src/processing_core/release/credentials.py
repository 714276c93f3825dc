"""Credentials for the artifact repository: the one place `publish` and the DAG bundle get
them from. Values come from the settings (or an Airflow connection, on the Airflow side) and
are never shown: the bearer auth's repr hides its token."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from processing_core.config import ReleaseSettings


class BearerAuth(requests.auth.AuthBase):
    """`Authorization: Bearer <token>` on each request (session-level, so requests drops it
    on a redirect to another host)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(<token>)"


def repository_auth(settings: ReleaseSettings) -> Any:
    """ARTIFACTORY_TOKEN, else ARTIFACTORY_USERNAME and ARTIFACTORY_PASSWORD, else None."""
    if settings.artifactory_token is not None:
        return BearerAuth(settings.artifactory_token.get_secret_value())
    if settings.artifactory_username and settings.artifactory_password is not None:
        return (settings.artifactory_username, settings.artifactory_password.get_secret_value())
    return None
