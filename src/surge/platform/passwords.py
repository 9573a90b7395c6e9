"""Password hashes: argon2 (argon2-cffi's defaults: ~50 ms and 64 MiB per check, which is what
makes a stolen hash hard to guess), for people signing in and for password-protected links."""

from __future__ import annotations

import functools
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Checked when there is no hash to check against, so that an unknown account costs as long
    as a wrong password. Made on first use, not at import: a hash is 50 ms of CPU (more on a
    busy machine) that every process, the redirect's and each command's included, would pay to
    start."""
    return _hasher.hash(secrets.token_urlsafe(16))


def argon2_hash(password: str) -> str:
    return _hasher.hash(password)


def argon2_matches(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def hash_fingerprint(password_hash: str) -> str:
    """A digest of a hash that tells one password from the next without being the hash: what
    can travel to the redirect and be signed over."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]
