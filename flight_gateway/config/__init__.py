"""Typed settings: the ONLY reader of environment variables and the config file (`loading.py`).

`settings.py` is the model, `sections.py` and `tenants.py` its parts, `docs.py` renders the
reference (`python -m flight_gateway.config.docs > docs/configuration-reference.md`).
"""

from flight_gateway.config.loading import client_password, load_settings
from flight_gateway.config.sections import (
    ApiKeyConfig,
    CertRuleConfig,
    ConfigError,
    EngineConfig,
    JwtIssuerConfig,
    PoolConfig,
    PostgresEngineConfig,
    RedshiftEngineConfig,
    UserConfig,
)
from flight_gateway.config.settings import Settings
from flight_gateway.config.tenants import TenantConfig, TenantLimitsConfig

__all__ = [
    "ApiKeyConfig",
    "CertRuleConfig",
    "ConfigError",
    "EngineConfig",
    "JwtIssuerConfig",
    "PoolConfig",
    "PostgresEngineConfig",
    "RedshiftEngineConfig",
    "Settings",
    "TenantConfig",
    "TenantLimitsConfig",
    "UserConfig",
    "client_password",
    "load_settings",
]
