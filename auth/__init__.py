"""Authentication and tenant resolution for the gateway. Never imports flight_gateway."""

from auth.authenticator import Authenticator, User, parse_basic
from auth.model import AuthError, AuthFailure, Principal, Tenant
from auth.passwords import hash_password, verify_password
from auth.tokens import TokenSigner

__all__ = [
    "AuthError",
    "AuthFailure",
    "Authenticator",
    "Principal",
    "Tenant",
    "TokenSigner",
    "User",
    "hash_password",
    "parse_basic",
    "verify_password",
]
