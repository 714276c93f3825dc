"""Signed bundles: an Ed25519 signature over a bundle's manifest, checked against trusted keys.

The manifest names every DAG file of a bundle with its sha256, and a bundle holds exactly the
files its manifest lists (release/archive.py): so a signature over the manifest's bytes covers
the whole bundle. `bundle --sign KEY` adds `signature.json` to the archive; `verify`,
`install`, `publish` and the artifact-repository DAG bundle check it against the keys
BUNDLE_TRUSTED_KEYS names before a file is written or parsed, and refuse unsigned bundles
whenever keys are configured. The signature is deterministic (Ed25519): the same inputs and
key still give the same archive, byte for byte.

Keys are Ed25519 in the formats people have: `ssh-keygen -t ed25519` (OpenSSH) or PEM
(`processing-core keygen`, openssl). A key is named by its fingerprint as `ssh-keygen -l`
prints it (`SHA256:...`). `cryptography` is imported only when a key is used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from processing_core.errors import ProcessingCoreError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

SIGNATURE = "signature.json"
FORMAT = 1
ALGORITHM = "ed25519"
# What is signed: this line, then the manifest's bytes (a signature over a manifest can never
# be taken for a signature over anything else made with the same key).
CONTEXT = b"processing-core bundle manifest signature v1\n"
MAX_SIGNATURE_BYTES = 4096
_SSH_ED25519 = "ssh-ed25519"
_MAX_KEY_FILE_BYTES = 1 << 20


class SigningError(ProcessingCoreError):
    """A key cannot be read or used; the message names the key (never its secret) and the fix."""


def _require_cryptography(purpose: str) -> None:
    from processing_core.extras import require

    require("cryptography", purpose)


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """The key's name as `ssh-keygen -l` prints it: SHA256 of its OpenSSH blob, base64."""
    return fingerprint_of_line(public_key_line(public_key))


def public_key_line(public_key: Ed25519PublicKey, comment: str = "") -> str:
    """`ssh-ed25519 AAAA... [comment]`: the line BUNDLE_TRUSTED_KEYS takes."""
    from cryptography.hazmat.primitives import serialization

    line = public_key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
    return f"{line} {comment}".rstrip()


def fingerprint_of_line(line: str) -> str:
    """The fingerprint of an `ssh-ed25519 AAAA...` line."""
    blob = base64.b64decode(line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


# -- signing ----------------------------------------------------------------------------------
def load_signing_key(path: Path, passphrase: str | None = None) -> Ed25519PrivateKey:
    """The Ed25519 private key in the file `path` (PEM or OpenSSH, encrypted or not)."""
    _require_cryptography("signing bundles (bundle --sign)")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        data = path.read_bytes()
    except OSError as error:
        raise SigningError(
            f"--sign {path}: cannot read the key ({error.strerror or error}); give the private "
            "key file `processing-core keygen` or `ssh-keygen -t ed25519` wrote"
        ) from None
    password = passphrase.encode() if passphrase else None
    try:
        if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
            key: Any = serialization.load_ssh_private_key(data, password)
        else:
            key = serialization.load_pem_private_key(data, password)
    except TypeError:  # encrypted without a passphrase, or a passphrase for a plain key
        raise SigningError(
            f"--sign {path}: the key is encrypted and BUNDLE_SIGNING_KEY_PASSPHRASE is not set "
            "(or it is set for a key that is not encrypted)"
        ) from None
    except (ValueError, binascii.Error):
        raise SigningError(
            f"--sign {path}: not a private key this machine can read, or a wrong "
            "BUNDLE_SIGNING_KEY_PASSPHRASE; give an Ed25519 key in PEM or OpenSSH form"
        ) from None
    except Exception as error:  # cryptography's own errors for unsupported formats
        needs = " (an encrypted OpenSSH key needs bcrypt: install 'processing-core[sign]')"
        raise SigningError(
            f"--sign {path}: cannot read the key ({type(error).__name__})"
            + (needs if "bcrypt" in str(error) else "")
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(
            f"--sign {path}: a {type(key).__name__.removesuffix('PrivateKey') or 'other'} key; "
            "bundles are signed with Ed25519 keys (processing-core keygen, or ssh-keygen -t "
            "ed25519)"
        )
    return key


def sign_manifest(manifest: bytes, key: Ed25519PrivateKey) -> bytes:
    """The `signature.json` of a bundle whose manifest has the bytes `manifest`."""
    signature = key.sign(CONTEXT + manifest)
    document = {
        "format": FORMAT,
        "algorithm": ALGORITHM,
        "key": fingerprint(key.public_key()),
        "signature": base64.b64encode(signature).decode(),
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def generate_key(path: Path, passphrase: str | None = None, comment: str = "") -> str:
    """Write a new Ed25519 private key to `path` (PEM, mode 0600; encrypted with `passphrase`)
    and its public key line to `path.pub`; neither may exist. Returns the public key line."""
    _require_cryptography("processing-core keygen")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public_path = path.with_name(path.name + ".pub")
    for target in (path, public_path):
        if target.exists() or target.is_symlink():
            raise SigningError(f"{target} exists; keygen never overwrites a key, choose a new name")
    key = Ed25519PrivateKey.generate()
    encryption: Any = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    line = public_key_line(key.public_key(), comment)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(private)
        descriptor = os.open(public_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(line + "\n")
    except OSError as error:
        path.unlink(missing_ok=True)
        raise SigningError(f"cannot write {error.filename}: {error.strerror}") from None
    return line


# -- checking ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class BundleSignature:
    """What `signature.json` claims: the signing key's fingerprint and the signature."""

    key: str
    signature: bytes

    @classmethod
    def parse(cls, data: bytes) -> BundleSignature:
        """ValueError says what is wrong with a document `sign_manifest` did not write."""
        try:
            document = json.loads(data)
        except (ValueError, RecursionError):
            raise ValueError(f"{SIGNATURE} is not JSON") from None
        if (
            not isinstance(document, dict)
            or set(document) != {"format", "algorithm", "key", "signature"}
            or document["format"] != FORMAT
            or document["algorithm"] != ALGORITHM
            or not isinstance(document["key"], str)
            or not document["key"].startswith("SHA256:")
            or len(document["key"]) > 100
            or not isinstance(document["signature"], str)
        ):
            raise ValueError(f"{SIGNATURE} is not a signature processing-core writes")
        try:
            signature = base64.b64decode(document["signature"], validate=True)
        except binascii.Error:
            raise ValueError(f"{SIGNATURE}: the signature is not base64") from None
        if len(signature) != 64:
            raise ValueError(f"{SIGNATURE}: an Ed25519 signature has 64 bytes")
        return cls(key=document["key"], signature=signature)


@dataclass(frozen=True)
class TrustedKeys:
    """The public keys whose signatures a bundle may carry, by fingerprint. Empty: signatures
    are not required (and cannot be checked)."""

    keys: Mapping[str, Ed25519PublicKey] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.keys)

    @classmethod
    def from_items(cls, items: Iterable[str], where: str = "BUNDLE_TRUSTED_KEYS") -> TrustedKeys:
        """Keys from `items`: each an OpenSSH public key line (`ssh-ed25519 AAAA...`) or the
        path of a file of such lines (blank lines and `#` comments skipped) or of a PEM
        public key. SigningError names the item that is not one."""
        items = [item.strip() for item in items if item.strip()]
        if not items:
            return cls()
        _require_cryptography(f"checking bundle signatures ({where})")
        keys: dict[str, Ed25519PublicKey] = {}
        for item in items:
            for key in _keys_of(item, where):
                keys[fingerprint(key)] = key
        return cls(keys)

    def describe(self) -> str:
        return ", ".join(sorted(self.keys))

    def problems(self, signature: bytes | None, manifest: bytes) -> list[str]:
        """Why a bundle whose manifest has the bytes `manifest` and whose `signature.json`
        holds `signature` (None: absent) is not acceptable; [] when it is."""
        if signature is None:
            if not self:
                return []
            return [
                f"the bundle is unsigned, and only bundles signed by a trusted key are accepted "
                f"({self.describe()}); sign it with `processing-core bundle --sign KEY`"
            ]
        try:
            claimed = BundleSignature.parse(signature)
        except ValueError as error:
            return [str(error)]
        if not self:
            return []  # nothing to check it against: accepted as an unsigned bundle would be
        key = self.keys.get(claimed.key)
        if key is None:
            return [
                f"signed by {claimed.key}, which is not a trusted key ({self.describe()}); "
                "add its public key to BUNDLE_TRUSTED_KEYS if you trust it"
            ]
        from cryptography.exceptions import InvalidSignature

        try:
            key.verify(claimed.signature, CONTEXT + manifest)
        except InvalidSignature:
            return [
                f"the signature by {claimed.key} does not match the manifest: the bundle was "
                "changed after it was signed; refusing it"
            ]
        return []


def _keys_of(item: str, where: str) -> list[Ed25519PublicKey]:
    if " " in item and item.split()[0].startswith(("ssh-", "ecdsa-", "sk-")):
        return [_ssh_public_key(item, where)]  # a key line (a path never starts so)
    path = Path(item)
    try:
        if path.stat().st_size > _MAX_KEY_FILE_BYTES:
            raise SigningError(f"{where}: {item} is larger than a file of public keys can be")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise SigningError(
            f"{where}: {item!r} is neither an `ssh-ed25519 AAAA...` public key nor a readable "
            f"file of them ({reason})"
        ) from None
    if "-----BEGIN" in text:
        return [_pem_public_key(text.encode(), f"{where}: {item}")]
    keys = [
        _ssh_public_key(line.strip(), f"{where}: {item}, line {number}")
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not keys:
        raise SigningError(f"{where}: {item} holds no public key")
    return keys


def _ssh_public_key(line: str, where: str) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    kind, _, rest = line.partition(" ")
    if kind != _SSH_ED25519:
        raise SigningError(
            f"{where}: a {kind[:40]!r} key; bundles are signed with Ed25519 keys "
            "(`ssh-ed25519 AAAA...`)"
        )
    blob = rest.split()[0] if rest.split() else ""
    try:
        key = serialization.load_ssh_public_key(f"{kind} {blob}".encode())
    except Exception:  # cryptography raises ValueError and others for a damaged key
        raise SigningError(f"{where}: {line[:60]!r}... is not a readable public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{where}: not an Ed25519 public key")
    return key


def _pem_public_key(data: bytes, where: str) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if b"PRIVATE KEY" in data:
        raise SigningError(
            f"{where} holds a private key; trust the public key (the `.pub` file) instead, and "
            "keep the private one secret"
        )
    try:
        key = serialization.load_pem_public_key(data)
    except Exception:
        raise SigningError(f"{where} is not a readable PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{where}: not an Ed25519 public key")
    return key


def claimed_signer(signature: bytes | None) -> str | None:
    """The fingerprint `signature.json` names (unchecked), or None."""
    if signature is None:
        return None
    try:
        return BundleSignature.parse(signature).key
    except ValueError:
        return None
