"""Database passwords from AWS Secrets Manager, fetched when first needed and cached.

A secret holds either the password itself or JSON with a `password` key (the layout AWS uses
for database secrets). The region comes from the ARN unless configured; `endpoint_url` points
boto3 at a VPC endpoint (or moto in tests). Passwords are never logged.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from flight_gateway.errors import GatewayError, Status

DEFAULT_TTL_SECONDS = 300.0


def region_of(arn: str) -> str | None:
    """`arn:aws:secretsmanager:<region>:<account>:secret:<name>` → region (None if not an ARN)."""
    parts = arn.split(":")
    return parts[3] or None if len(parts) > 3 and parts[0] == "arn" else None


def password_from_secret(secret: str) -> str:
    """The password in a SecretString: JSON `{"password": ...}` or the plain string."""
    try:
        value = json.loads(secret)
    except ValueError:
        return secret
    if isinstance(value, dict):
        password = value.get("password")
        if not isinstance(password, str):
            raise ValueError("the secret is JSON without a string `password` key")
        return password
    return secret


class SecretsManagerPasswords:
    """Looks passwords up by secret ARN; one boto3 client per region, values cached for `ttl`.

    A failed lookup raises UNAVAILABLE naming the ARN (never the value); the cache keeps a
    rotated password for at most `ttl` seconds, and `invalidate` drops it after a login failure.
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        client_factory: Callable[[str | None, str | None], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._region = region
        self._endpoint_url = endpoint_url
        self._ttl = ttl_seconds
        self._factory = client_factory or _boto3_client
        self._clock = clock
        self._clients: dict[str | None, Any] = {}
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def password(self, arn: str) -> str:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(arn)
            if cached is not None and cached[0] > now:
                return cached[1]
        password = self._fetch(arn)
        with self._lock:
            self._cache[arn] = (now + self._ttl, password)
        return password

    def invalidate(self, arn: str) -> None:
        with self._lock:
            self._cache.pop(arn, None)

    def source(self, arn: str) -> Callable[[], str]:
        """A zero-argument password getter for one secret (what engines hold per tenant)."""
        return lambda: self.password(arn)

    def _client(self, region: str | None) -> Any:
        with self._lock:
            client = self._clients.get(region)
            if client is None:
                client = self._clients[region] = self._factory(region, self._endpoint_url)
            return client

    def _fetch(self, arn: str) -> str:
        region = self._region or region_of(arn)
        try:
            reply = self._client(region).get_secret_value(SecretId=arn)
            secret = reply.get("SecretString")
            if not isinstance(secret, str):
                raise ValueError("the secret has no SecretString (binary secrets are not supported)")
            return password_from_secret(secret)
        except Exception as exc:  # boto3 raises many unrelated types; all mean "no password"
            raise GatewayError(
                Status.UNAVAILABLE,
                "CREDENTIALS_UNAVAILABLE",
                f"cannot read the database password from Secrets Manager secret {arn}: {_reason(exc)}; "
                "check the secret, its region and the gateway's AWS permissions",
                retryable=True,
            ) from exc


def _reason(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip()
    return type(exc).__name__ if not isinstance(exc, ValueError) else str(exc)


def _boto3_client(region: str | None, endpoint_url: str | None) -> Any:
    import boto3  # an optional dependency: only tenants with db_secret_arn need it

    return boto3.client("secretsmanager", region_name=region, endpoint_url=endpoint_url)
