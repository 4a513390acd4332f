"""`auth` is reusable on its own: importing every module of it loads nothing of flight_gateway."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import auth


def test_auth_never_imports_flight_gateway() -> None:
    modules = sorted(f"auth.{m.name}" for m in pkgutil.iter_modules(auth.__path__))
    assert {"auth.flight", "auth.jwt_verifier", "auth.api_keys", "auth.tls"} <= set(modules)
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] == 'flight_gateway')\n"
        "print(leaked)\n"
        "sys.exit(1 if leaked else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)  # noqa: S603
    assert result.returncode == 0, result.stdout + result.stderr
