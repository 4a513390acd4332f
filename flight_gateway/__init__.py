"""flight-gateway: a multi-tenant Arrow Flight SQL gateway."""

__version__ = "0.1.0"
