"""The per-project secret: salt for HASH(), key for sealing quarantined records.

Kept in ``<project>/.headwater/secret`` (outside the lake data, mode 0600), created on first
use, or supplied through the ``HEADWATER_SECRET`` environment variable (which wins).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENV_VAR = "HEADWATER_SECRET"
FILE_NAME = "secret"


def project_secret(state_dir: Path) -> str:
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return from_env
    path = state_dir / FILE_NAME
    if path.exists():
        return path.read_text().strip()
    state_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def salt(secret: str) -> str:
    """The salt HASH() prepends: derived, so the secret itself never appears in SQL."""
    return hashlib.sha256(f"headwater-hash-salt:{secret}".encode()).hexdigest()


class Sealer:
    """AES-GCM with a key derived from the project secret; text in, ``v1:<hex>`` out."""

    def __init__(self, secret: str) -> None:
        self._aead = AESGCM(hashlib.sha256(f"headwater-quarantine-key:{secret}".encode()).digest())

    def seal(self, text: str) -> str:
        nonce = secrets.token_bytes(12)
        return (
            "v1:" + (nonce + self._aead.encrypt(nonce, text.encode("utf-8", "surrogateescape"), None)).hex()
        )

    def open(self, sealed: str) -> str:
        blob = bytes.fromhex(sealed.removeprefix("v1:"))
        return self._aead.decrypt(blob[:12], blob[12:], None).decode("utf-8", "surrogateescape")
