"""Salted scrypt password hashes: `scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_LOG2_N = 14
_R = 8
_P = 1
_DKLEN = 32


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, log2_n: int = _LOG2_N) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=1 << log2_n, r=_R, p=_P, dklen=_DKLEN, maxmem=1 << 27)
    return f"scrypt${log2_n}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of `password` against a hash from `hash_password`."""
    try:
        scheme, log2_n, r, p, salt, expected = encoded.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode(),
            salt=_unb64(salt),
            n=1 << int(log2_n),
            r=int(r),
            p=int(p),
            dklen=len(_unb64(expected)),
            maxmem=1 << 27,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, _unb64(expected))
