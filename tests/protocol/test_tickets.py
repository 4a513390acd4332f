"""Ticket and handle signing: tenant binding, purpose separation, expiry and key rotation."""

from __future__ import annotations

import pytest

from flight_gateway.errors import GatewayError, Status
from flight_gateway.protocol.tickets import TicketSigner

OLD, NEW = b"o" * 32, b"n" * 32


def test_rotated_keys_still_verify_outstanding_tickets() -> None:
    ticket = TicketSigner([OLD]).sign("ticket", "acme", 60, {"s": "select 1"})
    assert TicketSigner([NEW, OLD]).verify("ticket", "acme", ticket)["s"] == "select 1"
    with pytest.raises(GatewayError) as removed:
        TicketSigner([NEW]).verify("ticket", "acme", ticket)
    assert removed.value.code == "FORGED_TICKET"


def test_new_tickets_use_the_first_key() -> None:
    ticket = TicketSigner([NEW, OLD]).sign("ticket", "acme", 60, {})
    assert TicketSigner([NEW]).verify("ticket", "acme", ticket)["t"] == "acme"


@pytest.mark.parametrize(
    ("purpose", "tenant", "ttl", "status", "code"),
    [
        ("handle", "acme", 60, Status.INVALID_ARGUMENT, "FORGED_TICKET"),
        ("ticket", "globex", 60, Status.PERMISSION_DENIED, "WRONG_TENANT"),
        ("ticket", "acme", -1, Status.DEADLINE_EXCEEDED, "TICKET_EXPIRED"),
    ],
)
def test_refusals(purpose: str, tenant: str, ttl: int, status: Status, code: str) -> None:
    signer = TicketSigner([OLD])
    ticket = signer.sign("ticket", "acme", ttl, {})
    with pytest.raises(GatewayError) as refused:
        signer.verify(purpose, tenant, ticket)
    assert (refused.value.status, refused.value.code) == (status, code)
