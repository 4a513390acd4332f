"""docs/configuration-reference.md is rendered from the settings models and kept in step with them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from flight_gateway.config import Settings, TenantConfig
from flight_gateway.config.docs import fields_table, render_configuration_reference

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "configuration-reference.md"


def test_the_committed_reference_is_the_rendered_one() -> None:
    assert REFERENCE.read_text() == render_configuration_reference(), (
        "regenerate: python -m flight_gateway.config.docs > docs/configuration-reference.md"
    )


def test_every_key_is_in_the_reference_with_its_environment_variable() -> None:
    text = REFERENCE.read_text()
    for name in Settings.model_fields:
        assert f"| `{name}` | `FLIGHT_GATEWAY_{name.upper()}`" in text, name
    for name in TenantConfig.model_fields:
        assert f"| `{name}` |" in text, name
    assert "## `[[tenants]]`" in text and '## `[[engines]] with type = "redshift"`' in text


def test_a_field_without_a_description_is_refused() -> None:
    class Undocumented(BaseModel):
        documented: int = Field(default=1, description="has one")
        bare: int = 2

    with pytest.raises(ValueError, match=r"Undocumented\.bare has no description"):
        fields_table(Undocumented)


def test_defaults_and_bounds_are_rendered_as_a_toml_reader_writes_them() -> None:
    class Sample(BaseModel):
        flag: bool = Field(default=False, description="a flag")
        size: int = Field(default=8, ge=1, le=4096, description="a size")
        name: str | None = Field(default=None, description="where `<data_dir>/x` goes")

    table = fields_table(Sample)
    assert "| `flag` | boolean | `false` | a flag |" in table
    assert "| `size` | integer, ≥ 1, ≤ 4,096 | `8` | a size |" in table
    assert "| `name` | string | unset | where `<data_dir>/x` goes |" in table
