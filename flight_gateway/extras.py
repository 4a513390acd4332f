"""Optional extras: importing a module whose driver ships in one, or a ConfigError naming it."""

from __future__ import annotations

import importlib
from types import ModuleType

from flight_gateway.config import ConfigError


def import_optional(module: str, extra: str, needed_by: str) -> ModuleType:
    """A module that needs an optional dependency; ConfigError saying which extra to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"{needed_by} needs the '{extra}' extra ({exc.name} is not installed): "
            f"pip install 'flight-gateway[{extra}]'"
        ) from None
