"""Engine type -> factory: how an `[[engines]]` entry becomes an engine.

A backend's package (and its driver) is imported only when an entry of its type is configured,
so a plain install serves the embedded DuckDB engine; a configured engine whose driver is
missing fails start-up naming the extra to install. Adding an engine: one package under
`engines/`, one loader below with its line in `ENGINE_TYPES`, one config section.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

from flight_gateway.config import ConfigError, EngineConfig, TenantConfig
from flight_gateway.engines.base import Engine

# A factory takes its own config section and the tenants that name the engine.
EngineFactory = Callable[[Any, Sequence[TenantConfig]], Engine]


def _optional(module: str, extra: str, needed_by: str) -> ModuleType:
    """A module that needs an optional dependency; ConfigError saying which extra to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"{needed_by} needs the '{extra}' extra ({exc.name} is not installed): "
            f"pip install 'flight-gateway[{extra}]'"
        ) from None


def _postgres() -> EngineFactory:
    factory: EngineFactory = _optional(
        "flight_gateway.engines.postgres.factory", "postgres", "engines: type = 'postgres'"
    ).create_engine
    return factory


def _redshift() -> EngineFactory:
    factory: EngineFactory = _optional(
        "flight_gateway.engines.redshift.factory", "redshift", "engines: type = 'redshift'"
    ).create_engine
    return factory


# The `type` of an `[[engines]]` entry -> the loader of its factory. DuckDB, the embedded
# default, is not configured by an entry: app.build always serves it as the engine `duckdb`.
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
