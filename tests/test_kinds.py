"""One vocabulary for statement kinds and classes: the tenant's allowances (auth's default, the
config's choices) name exactly the values of `StatementClass`, by the same strings."""

from __future__ import annotations

from typing import get_args

from auth.model import STATEMENT_CLASSES as TENANT_DEFAULT
from flight_gateway.config.tenants import StatementClass as ConfiguredClass
from flight_gateway.engines.base import StatementClass as EngineContractClass
from flight_gateway.engines.base import StatementKind as EngineContractKind
from flight_gateway.kinds import SQL_CLASSES as SQL_CLASS_ENUM
from flight_gateway.kinds import StatementClass, StatementKind
from flight_gateway.policy.allowances import SQL_CLASSES


def test_the_values_stay_the_stored_and_configured_strings() -> None:
    assert {kind.value for kind in StatementKind} == {
        "query", "dml", "ddl", "other", "ingest", "statement", "detached",
    }  # fmt: skip


def test_allowances_name_the_statement_classes() -> None:
    classes = {c.value for c in StatementClass}
    # auth cannot import flight_gateway, so it spells them out: they must not drift apart.
    assert TENANT_DEFAULT == classes
    assert set(get_args(ConfiguredClass)) - {"other"} == classes  # "other": the five non-core classes
    assert SQL_CLASSES == {c.value for c in SQL_CLASS_ENUM} == classes - {"ingest"}


def test_the_engine_contract_names_the_same_enum() -> None:
    assert EngineContractKind is StatementKind
    assert EngineContractClass is StatementClass
