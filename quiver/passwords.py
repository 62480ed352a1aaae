"""Password hashing for the authenticated REST surfaces (scrypt, salted, compared in constant time)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

_N, _R, _P = 2**14, 8, 1  # scrypt cost: ~16 MiB and tens of milliseconds per check


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=_N, r=_R, p=_P)
    return hmac.compare_digest(candidate, bytes.fromhex(digest))


def api_key_digest(key: str) -> str:
    """API keys are stored by digest: high-entropy, so a plain SHA-256 is enough."""
    return hashlib.sha256(key.encode()).hexdigest()
