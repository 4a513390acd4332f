"""The per-request identity and bookkeeping that flows from the auth middleware to the engines."""

from __future__ import annotations

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
