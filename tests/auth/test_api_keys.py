"""API keys: generation, the TOML snippet round trip, and every refusal."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from auth.api_keys import (
    ApiKeyRecord,
    ApiKeyVerifier,
    api_key_id,
    api_key_record_from_mapping,
    generate_api_key,
    hash_api_key,
    looks_like_api_key,
    render_api_key_toml,
)
from auth.model import AuthError, AuthFailure

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def clock() -> datetime:
    return NOW


def refusal(verifier: ApiKeyVerifier, key: str) -> AuthError:
    with pytest.raises(AuthError) as info:
        verifier.verify(key)
    assert info.value.kind is AuthFailure.UNAUTHENTICATED
    assert len(key) < 8 or key not in info.value.message
    return info.value


def test_generated_key_shape_and_record() -> None:
    key, record = generate_api_key("acme", roles=["reader"])
    prefix, key_id, secret = key[:4], key[4:16], key[17:]
    assert (prefix, key[16]) == ("fgk_", "_")
    assert key_id == record.id and len(key_id) == 12 and key_id == key_id.lower()
    assert len(secret) >= 32
    assert looks_like_api_key(key) and api_key_id(key) == key_id
    assert secret not in record.key_hash and key not in repr(record)
    assert record.key_hash == hash_api_key(key)
    assert (record.tenant, record.subject, record.roles, record.disabled) == (
        "acme",
        f"key:{key_id}",
        ("reader",),
        False,
    )
    assert generate_api_key("acme")[0] != key


def test_valid_key_gives_the_principal() -> None:
    key, record = generate_api_key("acme", subject="etl-job", roles=("writer",))
    principal = ApiKeyVerifier([record], clock).verify(key)
    assert (principal.subject, principal.tenant_id, principal.method, principal.roles) == (
        "etl-job",
        "acme",
        "api_key",
        ("writer",),
    )


def test_unknown_id_and_wrong_secret_look_the_same() -> None:
    key, record = generate_api_key("acme")
    other_key, _ = generate_api_key("acme")
    verifier = ApiKeyVerifier([record], clock)
    wrong_secret = key[:17] + other_key[17:]
    unknown_id = refusal(verifier, other_key)
    bad_secret = refusal(verifier, wrong_secret)
    assert (unknown_id.reason, unknown_id.message) == (bad_secret.reason, bad_secret.message)
    assert unknown_id.reason == "api_key_unknown"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "fgk_",
        "fgk_0123456789ab",
        "fgk_0123456789ab_short",
        "fgk_0123456789AB_" + "a" * 43,  # ids are lowercase
        "fgk_0123456789a_" + "a" * 43,  # 11-char id
        "FGK_0123456789ab_" + "a" * 43,
        "fgk_0123456789ab_" + "a" * 42 + "!",
        "fgk_0123456789ab_" + "a" * 500,
        "Bearer fgk_0123456789ab_" + "a" * 43,
    ],
)
def test_malformed_keys(text: str) -> None:
    assert not looks_like_api_key(text)
    assert api_key_id(text) is None
    _, record = generate_api_key("acme")
    assert refusal(ApiKeyVerifier([record], clock), text).reason == "api_key_malformed"


def test_disabled_key_is_refused() -> None:
    key, record = generate_api_key("acme")
    disabled = ApiKeyRecord(id=record.id, key_hash=record.key_hash, tenant="acme", disabled=True)
    error = refusal(ApiKeyVerifier([disabled], clock), key)
    assert error.reason == "api_key_disabled"


def test_disabled_is_only_revealed_to_holders_of_the_secret() -> None:
    key, record = generate_api_key("acme")
    disabled = ApiKeyRecord(id=record.id, key_hash=record.key_hash, tenant="acme", disabled=True)
    other_key, _ = generate_api_key("acme")
    assert refusal(ApiKeyVerifier([disabled], clock), key[:17] + other_key[17:]).reason == "api_key_unknown"


@pytest.mark.parametrize(
    ("expires_at", "reason"),
    [
        (NOW - timedelta(seconds=1), "api_key_expired"),
        (NOW, "api_key_expired"),
        (NOW + timedelta(seconds=1), None),
        (None, None),
    ],
)
def test_expiry(expires_at: datetime | None, reason: str | None) -> None:
    key, record = generate_api_key("acme", expires_at=expires_at)
    verifier = ApiKeyVerifier([record], clock)
    if reason is None:
        assert verifier.verify(key).tenant_id == "acme"
    else:
        assert refusal(verifier, key).reason == reason


@pytest.mark.parametrize(
    "kwargs",
    [
        {"id": "short", "key_hash": hash_api_key("x"), "tenant": "acme"},
        {"id": "0123456789ab", "key_hash": "plain-text-secret", "tenant": "acme"},
        {"id": "0123456789ab", "key_hash": hash_api_key("x"), "tenant": ""},
        {"id": "0123456789ab", "key_hash": hash_api_key("x"), "tenant": "acme", "expires_at": datetime(2030, 1, 1)},
    ],
)
def test_bad_records_fail_early(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="API key"):
        ApiKeyRecord(**kwargs)  # type: ignore[arg-type]


def test_duplicate_ids_are_refused() -> None:
    _, record = generate_api_key("acme")
    with pytest.raises(ValueError, match="twice"):
        ApiKeyVerifier([record, record])


def test_toml_snippet_round_trips() -> None:
    expires = datetime(2031, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    key, record = generate_api_key(
        'acme "eu"\\', subject="robot\n1", roles=["reader", "wr\x7fiter"], expires_at=expires
    )
    snippet = render_api_key_toml(record)
    assert key not in snippet and key[17:] not in snippet
    assert snippet.startswith("[[api_keys]]\n")
    table = tomllib.loads(snippet)["api_keys"][0]
    assert table["hash"] == record.key_hash and table["disabled"] is False
    parsed = api_key_record_from_mapping(table)
    assert parsed == record
    assert ApiKeyVerifier([parsed], clock).verify(key).subject == "robot\n1"


def test_toml_snippet_minimal_and_disabled() -> None:
    _, record = generate_api_key("acme")
    disabled = ApiKeyRecord(id=record.id, key_hash=record.key_hash, tenant="acme", disabled=True)
    table = tomllib.loads(render_api_key_toml(disabled))["api_keys"][0]
    assert set(table) == {"id", "hash", "tenant", "disabled"}
    assert api_key_record_from_mapping(table) == disabled


def test_record_from_mapping_rejects_unknown_fields_and_bad_types() -> None:
    _, record = generate_api_key("acme")
    base: dict[str, object] = {"id": record.id, "hash": record.key_hash, "tenant": "acme"}
    extras: list[dict[str, object]] = [{"secret": "x"}, {"roles": "admin"}, {"disabled": "yes"}, {"expires_at": 5}]
    for extra in extras:
        with pytest.raises(ValueError, match="API key"):
            api_key_record_from_mapping({**base, **extra})
    parsed = api_key_record_from_mapping({**base, "expires_at": "2030-01-01T00:00:00Z"})
    assert parsed.expires_at == datetime(2030, 1, 1, tzinfo=UTC)
