"""Engine type -> factory: how an `[[engines]]` entry becomes an engine.

A backend's package (and its driver) is imported only when an entry of its type is configured,
so a plain install serves the embedded DuckDB engine; a configured engine whose driver is
missing fails start-up naming the extra to install. Adding an engine: one package under
`engines/`, one loader below with its line in `ENGINE_TYPES` (or `EMBEDDED_TYPES`), one config
section.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from auth import Tenant
from flight_gateway.config import EngineConfig, TenantConfig
from flight_gateway.engines.base import Engine
from flight_gateway.extras import import_optional

# A factory takes its own config section and the tenants that name the engine.
EngineFactory = Callable[[Any, Sequence[TenantConfig]], Engine]
# An embedded engine's factory takes the databases (tenant id -> path) of the tenants that name it.
EmbeddedFactory = Callable[[Mapping[str, str]], Engine]


def _duckdb() -> EmbeddedFactory:
    from flight_gateway.engines.duckdb.engine import DuckDBEngine  # a core dependency: no extra

    return DuckDBEngine


def _postgres() -> EngineFactory:
    factory: EngineFactory = import_optional(
        "flight_gateway.engines.postgres.factory", "postgres", "engines: type = 'postgres'"
    ).create_engine
    return factory


def _redshift() -> EngineFactory:
    factory: EngineFactory = import_optional(
        "flight_gateway.engines.redshift.factory", "redshift", "engines: type = 'redshift'"
    ).create_engine
    return factory


# Embedded engines need no `[[engines]]` entry: each is always served, named after its type.
EMBEDDED_TYPES: Mapping[str, Callable[[], EmbeddedFactory]] = {
    "duckdb": _duckdb,
}

# The `type` of an `[[engines]]` entry -> the loader of its factory.
ENGINE_TYPES: Mapping[str, Callable[[], EngineFactory]] = {
    "postgres": _postgres,
    "redshift": _redshift,
}


def create_engines(configs: Sequence[EngineConfig], tenants: Sequence[TenantConfig]) -> dict[str, Engine]:
    """One engine per configured entry, by name; each type's package is imported once, before any
    engine is built, and only if an entry of that type is configured."""
    present = {config.type for config in configs}
    factories = {kind: load() for kind, load in ENGINE_TYPES.items() if kind in present}
    engines: dict[str, Engine] = {}
    for kind, factory in factories.items():
        for config in configs:
            if config.type == kind:
                engines[config.name] = factory(config, [t for t in tenants if t.engine == config.name])
    return engines


def create_embedded_engines(tenants: Iterable[Tenant]) -> dict[str, Engine]:
    """Every embedded engine, by name, with the databases of the tenants that name it (a tenant
    without one gets an in-memory database)."""
    tenants = list(tenants)
    return {
        kind: load()({t.id: t.database or ":memory:" for t in tenants if t.engine == kind})
        for kind, load in EMBEDDED_TYPES.items()
    }
