"""Encryption at rest for source credentials (Fernet: AES-128-CBC + HMAC-SHA256).

The key is derived from TBHUB_CREDENTIALS_KEY when set (so SECRET_KEY can rotate without
re-encrypting), else from TBHUB_SECRET_KEY. Derivation is HKDF-SHA256 with a fixed context label,
so the Django signing key and the credentials key are never the same bytes.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class CredentialsError(Exception):
    """Stored credentials cannot be decrypted (the key changed); the source must be re-entered."""


def _fernet() -> Fernet:
    secret = (
        getattr(settings, "TBHUB_CREDENTIALS_KEY", "")
        or os.environ.get("TBHUB_CREDENTIALS_KEY")
        or settings.SECRET_KEY
    )
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"tbhub source credentials v1"
    ).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def credentials_encrypt(credentials: dict[str, Any]) -> bytes:
    """Encrypt a credentials object (an empty object still encrypts: callers store None)."""
    return _fernet().encrypt(json.dumps(credentials, sort_keys=True).encode())


def credentials_decrypt(token: bytes | memoryview | None) -> dict[str, Any]:
    """Decrypt stored credentials; {} when none are stored.

    Raises:
        CredentialsError: the key changed since they were stored.
    """
    if not token:
        return {}
    try:
        data = _fernet().decrypt(bytes(token))
    except InvalidToken as exc:
        raise CredentialsError(
            "stored credentials cannot be decrypted with the current key; enter them again"
        ) from exc
    value = json.loads(data)
    return value if isinstance(value, dict) else {}
