"""Loading the settings: the ONLY reader of environment variables and the config file.

Precedence: CLI flags > `FLIGHT_GATEWAY_*` environment variables > TOML file (`--config`) > defaults.
Errors name the key, where it came from and the fix.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, TomlConfigSettingsSource

from flight_gateway.config.sections import ConfigError
from flight_gateway.config.settings import PREFIX as _PREFIX
from flight_gateway.config.settings import Settings

# FLIGHT_GATEWAY_* variables that are not settings: the `sql` client's password; test harnesses'.
_OTHER_VARIABLES = frozenset({"FLIGHT_GATEWAY_PASSWORD"})
_TEST_PREFIX = "FLIGHT_GATEWAY_TEST_"
# Settings that say where and how the gateway runs rather than what it serves (the container image
# and the Helm chart set some of them): with only these set, the configuration counts as empty.
_DEMO_NEUTRAL = frozenset(
    {
        "host",
        "port",
        "data_dir",
        "log_level",
        "demo",
        "demo_rows",
        "demo_password",
        "tls_self_signed",
        "token_keys",
        "token_active_key",
        "token_ttl_seconds",
    }
)


def _origin(top: str, config_file: Path | None, environment: dict[str, str], overrides: dict[str, Any]) -> str:
    """Where the top-level key `top` came from: a flag beats the environment, which beats the file."""
    if top in overrides:
        return f"config key '{top}', command-line flag"
    variable = _PREFIX + top.upper()
    if variable in environment:
        return f"config key '{top}', env {variable}"
    if config_file is not None:
        return f"config key '{top}' in config file {config_file}"
    return f"config key '{top}'"


def _describe(
    error: ValidationError, config_file: Path | None, environment: dict[str, str], overrides: dict[str, Any]
) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(root)"
        top = str(item["loc"][0]) if item["loc"] else ""
        if item["type"] == "extra_forbidden" and len(item["loc"]) == 1:
            # Unknown top-level keys come only from the file: the environment and flags hold known keys only.
            close = difflib.get_close_matches(top, sorted(Settings.model_fields), n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'?" if close else "see docs/configuration-reference.md"
            source = f" in config file {config_file}" if config_file is not None else ""
            lines.append(f"  {key}: unknown key{source} ({hint})")
            continue
        where = f" ({_origin(top, config_file, environment, overrides)})" if top else ""
        lines.append(f"  {key}: {item['msg'].removeprefix('Value error, ')}{where}")
    return "invalid configuration:\n" + "\n".join(lines)


def _environment() -> dict[str, str]:
    """The FLIGHT_GATEWAY_* variables, names upper-cased (settings are read case-insensitively)."""
    return {name.upper(): value for name, value in os.environ.items() if name.upper().startswith(_PREFIX)}


def _check_environment(settings: Settings, environment: dict[str, str]) -> None:
    """Refuse FLIGHT_GATEWAY_* variables that nothing reads: a misspelt setting must not be ignored."""
    known = {_PREFIX + name.upper() for name in Settings.model_fields} | _OTHER_VARIABLES
    known |= {t.db_password_env.upper() for t in settings.tenants if t.db_password_env}
    unknown = sorted(name for name in environment if name not in known and not name.startswith(_TEST_PREFIX))
    if not unknown:
        return
    lines = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f"did you mean {close[0]}?" if close else "see docs/configuration-reference.md"
        lines.append(f"  {name}: no setting has this name ({hint})")
    raise ConfigError(
        "unknown environment variable(s):\n" + "\n".join(lines) + "\nfix the name, or unset it if it is not "
        "meant for flight-gateway"
    )


def _resolve_demo(settings: Settings, config_file: Path | None, environment: dict[str, str]) -> Settings:
    """`demo` unset: on only when nothing at all is configured; configured without tenants is an error."""
    if settings.demo is not None:
        return settings
    if settings.tenants:
        return settings.model_copy(update={"demo": False})
    configured = [f"config file {config_file}"] if config_file is not None else []
    configured += sorted(
        name
        for name in environment
        if name.removeprefix(_PREFIX).lower() in Settings.model_fields
        and name.removeprefix(_PREFIX).lower() not in _DEMO_NEUTRAL
    )
    if not configured:
        return settings.model_copy(update={"demo": True})
    raise ConfigError(
        f"tenants: no tenants are configured, but the configuration is not empty ({', '.join(configured)}), so "
        "the demo tenants are not served by default; declare [[tenants]] (env FLIGHT_GATEWAY_TENANTS, a JSON list), "
        "or serve the demo on purpose with --demo (demo = true)"
    )


def client_password() -> str | None:
    """The password the `sql` client command uses, from FLIGHT_GATEWAY_PASSWORD (None: prompt)."""
    return os.environ.get("FLIGHT_GATEWAY_PASSWORD") or None


def load_settings(config_file: Path | None = None, *, serving: bool = False, **overrides: Any) -> Settings:
    """Settings from flags (`overrides`), env and an optional TOML file; ConfigError if invalid.

    `serving`: settings for `serve`, with `demo` decided (see `_resolve_demo`).
    """
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist or is not a file (--config)")

    class _FromFile(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources = [init_settings, env_settings]
            if config_file is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
            return tuple(sources)

    given = {k: v for k, v in overrides.items() if v is not None}
    environment = _environment()
    try:
        settings = _FromFile(**given)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, config_file, environment, given)) from None
    except ValueError as exc:  # TOML syntax, or an env value that is not JSON where JSON is expected
        where = f"config file {config_file} or " if config_file else ""
        raise ConfigError(f"invalid configuration ({where}FLIGHT_GATEWAY_* environment): {exc}") from None
    _check_environment(settings, environment)
    return _resolve_demo(settings, config_file, environment) if serving else settings
