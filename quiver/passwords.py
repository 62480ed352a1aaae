"""Users and their secrets for the authenticated REST surfaces: names and passwords checked
against Milvus' rules, passwords hashed with scrypt (salted) and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from quiver.errors import ErrorCode, QuiverError

_N, _R, _P = 2**14, 8, 1  # scrypt cost: ~16 MiB and tens of milliseconds per check
# Milvus' rules (proxy ValidateUsername / ValidatePassword with their default bounds).
MAX_USER_NAME = 32
MIN_PASSWORD, MAX_PASSWORD = 6, 256
_USER_NAME = re.compile(rf"[A-Za-z][A-Za-z0-9_]{{0,{MAX_USER_NAME - 1}}}")
# Checked against when the user does not exist, so that an unknown user costs the same scrypt
# as a wrong password and response times do not tell which users exist.
_ABSENT = f"scrypt${'00' * 16}${'00' * 64}"


def validate_user_name(name: str) -> str:
    if not _USER_NAME.fullmatch(name):
        raise QuiverError(
            ErrorCode.INVALID_PARAMETER,
            f"invalid user name {name[:64]!r}: 1 to {MAX_USER_NAME} letters, digits or '_', starting with a letter",
        )
    return name


def validate_password(password: str) -> str:
    """The message never repeats the password: error messages end up in logs and replies."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise QuiverError(
            ErrorCode.INVALID_PARAMETER,
            f"invalid password: it must have {MIN_PASSWORD} to {MAX_PASSWORD} characters",
        )
    return password


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches the stored hash; `None` (no such user) is always False, after
    the same work as a real check."""
    try:
        scheme, salt, digest = (stored or _ABSENT).split("$")
        expected, salt_bytes = bytes.fromhex(digest), bytes.fromhex(salt)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=salt_bytes, n=_N, r=_R, p=_P)
    return hmac.compare_digest(candidate, expected) and stored is not None


def api_key_digest(key: str) -> str:
    """API keys are stored and looked up by digest: they are high-entropy, so a plain SHA-256
    is enough, and a lookup's timing depends on the digest, which tells nothing of the key."""
    return hashlib.sha256(key.encode()).hexdigest()
