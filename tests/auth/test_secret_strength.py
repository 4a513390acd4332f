"""Configured secret keys must be random: phrases, placeholders and patterns are refused everywhere."""

from __future__ import annotations

import base64
import random

import pytest

from auth import TokenSigner
from auth.jwt_issuer import JwtIssuer
from auth.secret_strength import MIN_BITS, estimate_bits, weakness

# The placeholder the README used to show: 41 characters, so it passed the old length check.
OLD_README_PLACEHOLDER = "paste the output of: openssl rand -hex 32"

WEAK = {
    "old README placeholder": OLD_README_PLACEHOLDER,
    "new README placeholder": "<32 random bytes as 64 hex digits: openssl rand -hex 32>",
    "ellipsis placeholder": "…64 hex characters…",
    "english sentence": "a shared signing key of at least 32 characters",
    "english without spaces": "thisisaverylongpassphrasethatnobodywillguess",
    "words and digits": "MyCompanySecretKey2024!MyCompanySecretKey2024!",
    "correct horse": "correcthorsebatterystaplecorrecthorsebatterystaple",
    "one letter": "a" * 64,
    "k times 64": "k" * 64,
    "zeros": "0" * 64,
    "abc repeated": "abc" * 30,
    "digits repeated": "0123456789" * 7,
    "alphabet run": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ",
    "password repeated": "password" * 8,
    "password then digits": "passwordpasswordpassword1234567890",
    "keyboard walk": "qwertyuiopasdfghjklzxcvbnm1234567890",
    "hex pattern": "deadbeef" * 8,
    "two letters": "ab" * 40,
    "short alphabet": "0110100101101001100101101001011001101001100101101001011001101001",
    "changeme": "changemechangemechangemechangeme",
}


@pytest.mark.parametrize("secret", list(WEAK.values()), ids=list(WEAK))
def test_guessable_keys_are_refused_without_echoing_them(secret: str) -> None:
    problem = weakness(secret)
    assert problem is not None
    assert "openssl rand -hex 32" in problem
    assert secret not in problem


def test_random_keys_in_the_usual_encodings_pass() -> None:
    rng = random.Random(20261202)  # deterministic, so a failure is reproducible
    for _ in range(500):
        raw = rng.randbytes(32)
        for key in (
            raw.hex(),
            base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
        ):
            assert weakness(key) is None, key
            assert estimate_bits(key) >= MIN_BITS + 40, key  # a clear margin, not a coin flip
        assert weakness(raw) is None  # raw bytes, as TokenSigner receives them


def test_the_issue_placeholder_is_not_a_token_signing_key() -> None:
    with pytest.raises(ValueError, match="signing key 'k1' contains spaces"):
        TokenSigner({"k1": OLD_README_PLACEHOLDER.encode()}, "k1", 3600)


def test_the_issue_placeholder_is_not_a_jwt_shared_secret() -> None:
    with pytest.raises(ValueError, match="shared_secret contains spaces.*openssl rand -hex 32"):
        JwtIssuer(issuer="https://idp.test", algorithms=["HS256"], shared_secret=OLD_README_PLACEHOLDER)
    with pytest.raises(ValueError, match="shared_secret is too predictable"):
        JwtIssuer(issuer="https://idp.test", algorithms=["HS256"], shared_secret="password" * 8)
