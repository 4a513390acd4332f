"""Gateway API keys: `fgk_<id>_<secret>`, configured by id and stored only as a hash.

The id (12 lowercase hex chars) is public: it finds the record and appears in logs and audit
events. The secret is 32 random bytes (43 url-safe chars), so a fast hash is as good as a slow
one: nobody can brute-force 256 bits, and a slow KDF would only make every call more expensive.
The stored hash is `sha256$<hex sha256 of the whole key>`; hashing the whole key binds the secret
to its id. Comparison is constant-time, and an unknown id costs the same hash and comparison as a
wrong secret, with the same message, so valid ids cannot be probed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from auth.model import Principal, unauthenticated

PREFIX = "fgk_"
_KEY = re.compile(r"^fgk_([0-9a-z]{12})_([A-Za-z0-9_-]{32,128})$")
_ID = re.compile(r"^[0-9a-z]{12}$")
_HASH = re.compile(r"^sha256\$[0-9a-f]{64}$")
_BAD_KEY_MESSAGE = "API key is not valid; check that it was copied completely, or ask the operator for a new one"


def hash_api_key(key: str) -> str:
    """The storable form of a full `fgk_..._...` key."""
    return "sha256$" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def api_key_id(key: str) -> str | None:
    """The id part of a well-formed key (public, safe to log), else None."""
    match = _KEY.match(key)
    return match.group(1) if match else None


def looks_like_api_key(text: str) -> bool:
    """True for text shaped like a gateway API key (it may still be unknown or wrong)."""
    return _KEY.match(text) is not None


@dataclass(frozen=True, kw_only=True)
class ApiKeyRecord:
    """A configured API key. `subject` defaults to `key:<id>`; `expires_at` must be timezone-aware."""

    id: str
    key_hash: str
    tenant: str
    subject: str = ""
    disabled: bool = False
    expires_at: datetime | None = None
    roles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        where = f"API key {self.id!r}"
        if not _ID.match(self.id):
            raise ValueError(f"{where}: 'id' must be 12 lowercase letters/digits, as printed by generate")
        if not _HASH.match(self.key_hash):
            raise ValueError(f"{where}: 'hash' must be 'sha256$<64 hex digits>', as printed by generate")
        if not self.tenant:
            raise ValueError(f"{where}: 'tenant' must name a configured tenant")
        if self.expires_at is not None and self.expires_at.utcoffset() is None:
            raise ValueError(f"{where}: 'expires_at' needs a timezone, e.g. 2030-01-01T00:00:00Z")
        object.__setattr__(self, "roles", tuple(self.roles))
        if not self.subject:
            object.__setattr__(self, "subject", f"key:{self.id}")


def generate_api_key(
    tenant: str,
    *,
    subject: str = "",
    roles: Iterable[str] = (),
    expires_at: datetime | None = None,
) -> tuple[str, ApiKeyRecord]:
    """A new key (show it once, never store it) and the record to configure."""
    key_id = secrets.token_hex(6)
    key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    record = ApiKeyRecord(
        id=key_id,
        key_hash=hash_api_key(key),
        tenant=tenant,
        subject=subject,
        expires_at=expires_at,
        roles=tuple(roles),
    )
    return key, record


def _toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def render_api_key_toml(record: ApiKeyRecord) -> str:
    """The `[[api_keys]]` table for the config file; it holds the hash, never the key."""
    lines = [
        "[[api_keys]]",
        f"id = {_toml_string(record.id)}",
        f"hash = {_toml_string(record.key_hash)}",
        f"tenant = {_toml_string(record.tenant)}",
    ]
    if record.subject != f"key:{record.id}":
        lines.append(f"subject = {_toml_string(record.subject)}")
    if record.roles:
        lines.append(f"roles = [{', '.join(_toml_string(role) for role in record.roles)}]")
    if record.expires_at is not None:
        lines.append(f"expires_at = {record.expires_at.astimezone(UTC).isoformat().replace('+00:00', 'Z')}")
    lines.append(f"disabled = {'true' if record.disabled else 'false'}")
    return "\n".join(lines) + "\n"


def api_key_record_from_mapping(table: Mapping[str, object]) -> ApiKeyRecord:
    """The record for one parsed `[[api_keys]]` table (the inverse of `render_api_key_toml`)."""
    unknown = set(table) - {"id", "hash", "tenant", "subject", "roles", "expires_at", "disabled"}
    if unknown:
        raise ValueError(f"API key table: unknown keys {sorted(unknown)}")
    expires_at = table.get("expires_at")
    if isinstance(expires_at, str):
        expires_at = datetime.fromisoformat(expires_at)
    roles = table.get("roles", ())
    disabled = table.get("disabled", False)
    if expires_at is not None and not isinstance(expires_at, datetime):
        raise ValueError("API key table: 'expires_at' must be a date-time with a timezone")
    if not isinstance(roles, list | tuple) or not all(isinstance(role, str) for role in roles):
        raise ValueError("API key table: 'roles' must be a list of strings")
    if not isinstance(disabled, bool):
        raise ValueError("API key table: 'disabled' must be true or false")
    return ApiKeyRecord(
        id=str(table.get("id", "")),
        key_hash=str(table.get("hash", "")),
        tenant=str(table.get("tenant", "")),
        subject=str(table.get("subject", "")),
        disabled=disabled,
        expires_at=expires_at,
        roles=tuple(roles),
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ApiKeyVerifier:
    """Checks presented API keys against the configured records; immutable, so thread-safe."""

    def __init__(self, records: Iterable[ApiKeyRecord], clock: Callable[[], datetime] = _utcnow) -> None:
        self._records: dict[str, ApiKeyRecord] = {}
        for record in records:
            if record.id in self._records:
                raise ValueError(f"API key {record.id!r} is configured twice")
            self._records[record.id] = record
        self._clock = clock
        # Compared against when the id is unknown, so that path costs what a wrong secret costs.
        self._dummy_hash = hash_api_key(f"{PREFIX}{'0' * 12}_{'0' * 43}")

    def verify(self, key: str) -> Principal:
        """The key's Principal (method "api_key"), or AuthError(UNAUTHENTICATED) with an `api_key_*` reason."""
        match = _KEY.match(key)
        if match is None:
            raise unauthenticated(
                "api_key_malformed", "API key is malformed: expected 'fgk_<12-char id>_<secret>', copied completely"
            )
        record = self._records.get(match.group(1))
        expected = record.key_hash if record else self._dummy_hash
        matches = hmac.compare_digest(hash_api_key(key).encode(), expected.encode())
        if record is None or not matches:
            # Unknown id and wrong secret share reason and message, so ids cannot be probed.
            raise unauthenticated("api_key_unknown", _BAD_KEY_MESSAGE)
        if record.disabled:
            raise unauthenticated("api_key_disabled", "API key is disabled; ask the operator for a new one")
        if record.expires_at is not None and self._clock() >= record.expires_at:
            raise unauthenticated("api_key_expired", "API key has expired; ask the operator for a new one")
        return Principal(
            subject=record.subject,
            tenant_id=record.tenant,
            method="api_key",
            roles=record.roles,
            key_id=record.id,
            valid_until=record.expires_at.timestamp() if record.expires_at else None,
        )

    def is_active(self, key_id: str) -> bool:
        """Whether a key still exists, is enabled and unexpired (tokens minted from it check this)."""
        record = self._records.get(key_id)
        if record is None or record.disabled:
            return False
        return record.expires_at is None or self._clock() < record.expires_at
