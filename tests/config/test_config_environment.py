"""Start-up refuses what would otherwise be silently ignored: misspelt FLIGHT_GATEWAY_* variables,
a configuration without tenants (which used to serve the writable demo), guessable secret keys; and
errors name where a bad key came from (the TOML file, the environment or a flag)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from serve_process import _first_line

from flight_gateway.config import ConfigError, load_settings

RANDOM_KEY = "0f6c2d8e5a3b91c47e2a6d0b8f3c5e1a9d7b4f2c6e8a0d3b5f7c9e1a2b4d6f8c"  # openssl rand -hex 32
OLD_README_PLACEHOLDER = "paste the output of: openssl rand -hex 32"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No FLIGHT_GATEWAY_* from the outside, and a working directory of the test's own."""
    for key in list(os.environ):
        if key.upper().startswith("FLIGHT_GATEWAY_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def _cli(tmp_path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("FLIGHT_GATEWAY_")}
    return subprocess.run(  # noqa: S603 - our own CLI, fixed argv
        [sys.executable, "-m", "flight_gateway.cli", "serve", "--port", "0", "--data-dir", str(tmp_path / "d"), *args],
        capture_output=True,
        text=True,
        env=clean | {"FLIGHT_GATEWAY_DEMO_PASSWORD": "pw"} | env,
        timeout=180,
        check=False,
    )


# -- unknown FLIGHT_GATEWAY_* variables ------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "suggestion"),
    [
        ("FLIGHT_GATEWAY_TENANT", "FLIGHT_GATEWAY_TENANTS"),
        ("FLIGHT_GATEWAY_TENNANTS", "FLIGHT_GATEWAY_TENANTS"),
        ("FLIGHT_GATEWAY_PROT", "FLIGHT_GATEWAY_PORT"),
        ("flight_gateway_demo_pasword", "FLIGHT_GATEWAY_DEMO_PASSWORD"),
    ],
)
def test_a_misspelt_variable_is_refused_with_the_closest_name(
    env: pytest.MonkeyPatch, variable: str, suggestion: str
) -> None:
    env.setenv(variable, '[{"id": "finance"}]')
    with pytest.raises(ConfigError) as error:
        load_settings(None)
    assert f"{variable.upper()}: no setting has this name (did you mean {suggestion}?)" in str(error.value)


def test_variables_the_gateway_reads_outside_the_settings_are_known(env: pytest.MonkeyPatch) -> None:
    env.setenv("FLIGHT_GATEWAY_PASSWORD", "for the sql command")
    env.setenv("FLIGHT_GATEWAY_DEMO_PASSWORD", "pw")
    env.setenv("FLIGHT_GATEWAY_TEST_POSTGRES_DSN", "postgresql://test-harness")
    env.setenv("FLIGHT_GATEWAY_FINANCE_DB_PASSWORD", "s3cret")  # named by a tenant's db_password_env
    env.setenv("FLIGHT_GATEWAY_TENANTS", '[{"id": "finance", "db_password_env": "FLIGHT_GATEWAY_FINANCE_DB_PASSWORD"}]')
    settings = load_settings(None, serving=True)
    assert [t.id for t in settings.tenants] == ["finance"]


def test_serve_refuses_a_misspelt_tenants_variable_instead_of_serving_the_demo(tmp_path: Path) -> None:
    result = _cli(tmp_path, env={"FLIGHT_GATEWAY_TENANT": '[{"id": "finance"}]'})
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "FLIGHT_GATEWAY_TENANT: no setting has this name (did you mean FLIGHT_GATEWAY_TENANTS?)" in result.stderr
    assert "listening" not in result.stdout and "Traceback" not in result.stderr


# -- the demo only when nothing is configured -------------------------------------------------------


def test_nothing_configured_serves_the_demo(env: pytest.MonkeyPatch) -> None:
    assert load_settings(None, serving=True).demo_enabled is True
    # What the container image and the Helm chart set by themselves still counts as nothing.
    for name, value in {
        "HOST": "0.0.0.0",  # noqa: S104 - a value, not a bind
        "PORT": "8815",
        "DATA_DIR": "/data",
        "LOG_LEVEL": "INFO",
        "TOKEN_TTL_SECONDS": "43200",
        "TOKEN_KEYS": f'{{"chart": "{RANDOM_KEY}"}}',
        "DEMO_PASSWORD": "pw",
    }.items():
        env.setenv(f"FLIGHT_GATEWAY_{name}", value)
    assert load_settings(None, serving=True).demo_enabled is True


@pytest.mark.parametrize(
    ("variable", "value"),
    [("FLIGHT_GATEWAY_TENANTS", "[]"), ("FLIGHT_GATEWAY_BATCH_ROWS", "4096"), ("FLIGHT_GATEWAY_USERS", "[]")],
)
def test_a_configuration_without_tenants_fails_instead_of_serving_the_demo(
    env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    env.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings(None, serving=True)
    message = str(error.value)
    assert message.startswith("tenants: no tenants are configured") and f"({variable})" in message
    assert "--demo" in message
    assert load_settings(None, serving=True, demo=True).demo_enabled is True  # asked for: served
    assert load_settings(None).demo is None  # `jobs` commands do not care


def test_a_config_file_without_tenants_fails_and_tenants_turn_the_demo_off(env: pytest.MonkeyPatch) -> None:
    config = Path("gateway.toml")
    config.write_text("port = 0\n")
    with pytest.raises(ConfigError, match=r"is not empty \(config file gateway.toml\)"):
        load_settings(config, serving=True)
    config.write_text('port = 0\n[[tenants]]\nid = "finance"\n')
    assert load_settings(config, serving=True).demo_enabled is False
    config.write_text('port = 0\ndemo = true\n[[tenants]]\nid = "finance"\n')
    assert load_settings(config, serving=True).demo_enabled is True


def test_serve_with_an_empty_tenant_list_fails_and_demo_flag_serves(tmp_path: Path) -> None:
    result = _cli(tmp_path, env={"FLIGHT_GATEWAY_TENANTS": "[]"})
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "tenants: no tenants are configured" in result.stderr and "--demo" in result.stderr
    assert "listening" not in result.stdout and "Traceback" not in result.stderr

    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("FLIGHT_GATEWAY_")}
    argv = [sys.executable, "-m", "flight_gateway.cli", "serve", "--port", "0", "--data-dir", str(tmp_path / "d"),
            "--demo-rows", "100", "--demo"]  # fmt: skip
    with (tmp_path / "serve.stderr").open("w") as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed argv
            argv,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=clean | {"FLIGHT_GATEWAY_DEMO_PASSWORD": "pw", "FLIGHT_GATEWAY_BATCH_ROWS": "4096"},
        )
    try:
        assert process.stdout is not None
        assert "listening on grpc://" in _first_line(process.stdout, 180), (tmp_path / "serve.stderr").read_text()
        assert "demo tenants: acme, globex" in process.stdout.readline()  # the banner is one write
    finally:
        process.terminate()
        process.wait(timeout=120)
        assert process.stdout is not None
        process.stdout.close()


# -- errors name the TOML key and file, or the variable, or the flag ---------------------------------


def test_an_unknown_toml_key_names_the_key_and_the_file_not_a_variable(env: pytest.MonkeyPatch) -> None:
    config = Path("gateway.toml")
    config.write_text("protcol = 1\n")
    with pytest.raises(ConfigError) as error:
        load_settings(config)
    message = str(error.value)
    assert "protcol: unknown key in config file gateway.toml (did you mean 'port'?)" in message
    assert "FLIGHT_GATEWAY_" not in message


def test_a_bad_value_names_where_it_came_from(env: pytest.MonkeyPatch) -> None:
    config = Path("gateway.toml")
    config.write_text("port = 99999\n")
    with pytest.raises(ConfigError) as error:
        load_settings(config)
    assert "(config key 'port' in config file gateway.toml)" in str(error.value)
    assert "FLIGHT_GATEWAY_PORT" not in str(error.value)
    env.setenv("FLIGHT_GATEWAY_PORT", "70000")
    with pytest.raises(ConfigError, match=r"\(config key 'port', env FLIGHT_GATEWAY_PORT\)"):
        load_settings(config)
    with pytest.raises(ConfigError, match=r"\(config key 'port', command-line flag\)"):
        load_settings(config, port=80000)


def test_serve_names_an_unknown_toml_key_and_its_file(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("protcol = 1\n")
    result = _cli(tmp_path, "--config", str(config), env={})
    assert result.returncode == 2
    assert f"protcol: unknown key in config file {config} (did you mean 'port'?)" in result.stderr
    assert "FLIGHT_GATEWAY_PROTCOL" not in result.stderr


# -- guessable secret keys stop the gateway -----------------------------------------------------------


def test_guessable_token_keys_and_jwt_secrets_fail_at_start_up(env: pytest.MonkeyPatch) -> None:
    config = Path("gateway.toml")
    config.write_text(f'[token_keys]\n"2026-11" = "{OLD_README_PLACEHOLDER}"\n')
    with pytest.raises(ConfigError, match=r"token_keys: key '2026-11' contains spaces.*openssl rand -hex 32"):
        load_settings(config)
    config.write_text("port = 0\n")
    env.setenv("FLIGHT_GATEWAY_TOKEN_KEYS", '{"k": "' + "k" * 64 + '"}')
    with pytest.raises(ConfigError, match=r"key 'k' is too predictable.*env FLIGHT_GATEWAY_TOKEN_KEYS"):
        load_settings(config)
    env.setenv("FLIGHT_GATEWAY_TOKEN_KEYS", f'{{"k": "{RANDOM_KEY}"}}')
    assert load_settings(config).token_keys["k"].get_secret_value() == RANDOM_KEY
    env.delenv("FLIGHT_GATEWAY_TOKEN_KEYS")
    issuer = '[[jwt_issuers]]\nissuer = "https://idp.test"\nalgorithms = ["HS256"]\n'
    config.write_text(issuer + f'shared_secret = "{OLD_README_PLACEHOLDER}"\n')
    with pytest.raises(ConfigError, match=r"jwt_issuers.0.shared_secret: the shared secret contains spaces"):
        load_settings(config)


def test_serve_refuses_the_old_readme_placeholder_as_a_signing_key(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'[token_keys]\n"2026-11" = "{OLD_README_PLACEHOLDER}"\n[[tenants]]\nid = "finance"\n')
    result = _cli(tmp_path, "--config", str(config), env={})
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "token_keys: key '2026-11'" in result.stderr and "openssl rand -hex 32" in result.stderr
    assert OLD_README_PLACEHOLDER not in result.stderr and "listening" not in result.stdout


def test_serve_refuses_a_guessable_signing_key_kept_in_the_data_dir(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "signing-key").write_text("changeme" * 8 + "\n")
    result = _cli(tmp_path, env={})
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "signing-key: the kept signing key reads like words" in result.stderr
    assert "openssl rand -hex 32" in result.stderr and "changeme" not in result.stderr
    assert "listening" not in result.stdout and "Traceback" not in result.stderr
