"""Builds a Redshift engine from its config section."""

from __future__ import annotations

from collections.abc import Sequence

from flight_gateway.config import RedshiftEngineConfig, TenantConfig
from flight_gateway.engines.redshift.engine import RedshiftEngine


def create_engine(config: RedshiftEngineConfig, tenants: Sequence[TenantConfig]) -> RedshiftEngine:
    """The engine of one `type = "redshift"` entry, with the tenants that name it."""
    return RedshiftEngine(config, {t.id: t for t in tenants})
