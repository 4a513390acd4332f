"""The per-request identity and bookkeeping that flows from the auth middleware to the engines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from auth import Principal, Tenant


@dataclass(frozen=True)
class RequestContext:
    """Who is calling, as which tenant, for which request (one per RPC)."""

    principal: Principal
    tenant: Tenant
    request_id: str
    peer: str = ""
    user_agent: str = ""
    # The client's delivery hint (header `x-flight-gateway-delivery`: offload | stream | auto), as sent.
    delivery_hint: str | None = None
    # The client's request id (header `x-flight-gateway-request-id`), validated; None if not sent.
    client_request_id: str | None = None
    # The job id this call's statement takes, reserved when its request id was claimed.
    job_id: str | None = None
    # Whether the client has gone away (cancelled the call or disconnected); False once the call is over.
    client_gone: Callable[[], bool] = lambda: False
