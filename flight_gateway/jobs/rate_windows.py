"""requests_per_minute shared by every replica of a DynamoDB job store: a counter per tenant and
clock minute (a fixed window), in the job table.

An item per tenant and minute: pk `RATE#<tenant>`, sk `<minute>` (epoch seconds // 60), `n` the
calls counted, `ttl` a little after the minute (DynamoDB's TTL deletes them; they carry no `g`, so
no index and no sweep sees them). A call is counted by one conditional UpdateItem that adds 1
only while `n` is below the limit, so replicas never count past it together.
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from flight_gateway.jobs.dynamodb_schema import conditional, open_table, ttl_of

log = logging.getLogger("flight_gateway.admission")
WINDOW_SECONDS = 60
# Kept past its minute so that a replica whose clock lags a little still finds the count.
_KEEP_SECONDS = 2 * WINDOW_SECONDS


class DynamoRateWindows:
    """Per-tenant, per-minute call counters in the job table, shared by the gateways using it."""

    def __init__(self, table: str, *, region: str | None, endpoint_url: str | None, session: Any = None) -> None:
        self._table = open_table(table, region=region, endpoint_url=endpoint_url, create=False, session=session)

    def take(self, tenant: str, limit: int, now: float) -> float | None:
        """None when the call is counted within `limit` for this minute, else the seconds until the
        next minute. If DynamoDB cannot be reached the call is let through (logged): each
        replica's own bucket still holds, and a throttle must not turn a DynamoDB blip into an outage."""
        window = int(now // WINDOW_SECONDS)
        try:
            self._table.update_item(
                Key={"pk": f"RATE#{tenant}", "sk": str(window)},
                UpdateExpression="ADD #n :one SET #ttl = if_not_exists(#ttl, :ttl)",
                ConditionExpression="attribute_not_exists(#n) OR #n < :limit",
                ExpressionAttributeNames={"#n": "n", "#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":one": 1, ":limit": limit, ":ttl": ttl_of((window + 1) * WINDOW_SECONDS + _KEEP_SECONDS)
                },
            )  # fmt: skip
        except (BotoCoreError, ClientError) as exc:
            if isinstance(exc, ClientError) and conditional(exc):
                return (window + 1) * WINDOW_SECONDS - now
            log.warning(
                "shared rate counter unavailable (%s); tenant=%s counted on this replica only",
                type(exc).__name__,
                tenant,
            )
        return None
