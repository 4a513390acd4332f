"""Every ```python and ```sh block of the README and docs/**/*.md, run as a reader would run it.

Each block runs in a subprocess (python file, or bash -e) against a live gateway started here on a
free port: the documented `127.0.0.1:8815` becomes that port and placeholders such as
`<password>` and `<api key>` become real values; nothing else of the text changes. A block runs
against the demo gateway unless `CONFIGURED` names another one (TLS, mTLS), and is skipped only
when `SKIPPED` says why. A new block is therefore run automatically, and one that cannot run fails
until it is fixed or listed. (TOML and env blocks are checked by the config-validation test.)
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import jwt
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway

from auth.api_keys import generate_api_key
from flight_gateway.client import run_query
from flight_gateway.jobs.sqlite import SqliteJobStore

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED_ADDRESS = "127.0.0.1:8815"
TIMEOUT_SECONDS = 300
_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w+-]*)\s*$")
_HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$")
# Fence languages that run, and what they run as; every other block must still name its language.
RUN_LANGUAGES = {"python": "python", "py": "python", "sh": "sh", "bash": "sh", "shell": "sh"}


@dataclass(frozen=True)
class Snippet:
    file: str  # relative to the repository root
    heading: str  # the nearest heading above the block
    lang: str
    ordinal: int  # 1-based among this heading's blocks of this language
    line: int
    code: str

    @property
    def id(self) -> str:
        return f"{self.file}:{self.heading}:{self.lang}-{self.ordinal}"


@dataclass(frozen=True)
class Rule:
    """Picks snippets: same file and heading, and `marker` appears in the code (stable under edits
    elsewhere in the document and under reordering of the heading's blocks)."""

    file: str
    heading: str
    marker: str

    def matches(self, snippet: Snippet) -> bool:
        return snippet.file == self.file and snippet.heading == self.heading and self.marker in snippet.code


SKIPPED: dict[Rule, str] = {
    Rule("README.md", "Quick start", "python3 -m venv"): "creates and activates a virtualenv in the reader's shell",
    Rule("README.md", "Quick start", "flight-gateway serve --port 8815"): (
        "installs the package and serves until Ctrl-C; tests/serve_process.py starts `serve` the same way"
    ),
    Rule("README.md", "Quick start", "python -m pytest"): "runs the whole test suite (CI runs exactly this line)",
    Rule("docs/configuration.md", "Example", "flight-gateway serve --config gateway.toml"): (
        "serves until stopped, with the example's placeholder users; the TOML is checked by the config-block test"
    ),
    Rule("docs/configuration.md", "Example", "export FLIGHT_GATEWAY_TENANTS"): (
        "serves until stopped, with placeholder hashes and keys; env blocks are checked by the config-block test"
    ),
    Rule("docs/operations.md", "Running in a container", "docker build"): "needs Docker and builds the image",
    Rule("docs/operations.md", "Running in a container", "docker run --rm -v"): "needs Docker and the image",
    Rule("docs/development.md", "Development", 'pip install -e ".[dev]"'): (
        "installs the dev extra, runs the whole suite and regenerates the protobuf modules"
    ),
    Rule("docs/engines/redshift.md", "Redshift simulator", "flight-gateway simulate redshift"): (
        "a synopsis with [optional] arguments that serves until stopped; tests use the redshift_sim fixture"
    ),
}


@dataclass(frozen=True)
class Setup:
    gateway: str  # a key of GATEWAYS
    replaces_serve: bool = False  # the block's `flight-gateway serve …` line is the gateway started here


CONFIGURED: dict[Rule, Setup] = {
    Rule("docs/auth.md", "TLS", "adbc.flight.sql.client_option.tls_root_certs"): Setup("tls"),
    Rule("docs/auth.md", "TLS", "fl.FlightClient"): Setup("tls"),
    Rule("docs/auth.md", "TLS", "flight-gateway serve --tls-self-signed"): Setup("tls", replaces_serve=True),
    Rule("docs/auth.md", "Client certificates (mTLS)", '"password": "<password>"'): Setup("mtls"),
    Rule("docs/auth.md", "Client certificates (mTLS)", "conn = flight_sql.connect("): Setup("mtls_identity"),
}


# -- the documents ---------------------------------------------------------------------------------


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def parse(path: Path) -> list[Snippet]:
    """The fenced blocks in RUN_LANGUAGES, each with its nearest heading (an unlabeled fence is a
    snippet of language "", which fails: it would otherwise escape being run)."""
    file = path.relative_to(ROOT).as_posix()
    heading = "(top)"
    counts: dict[tuple[str, str], int] = {}
    snippets: list[Snippet] = []
    fence: tuple[str, str, int, list[str]] | None = None  # indent, lang, first line, lines
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = _FENCE.match(line)
        if fence is None:
            if match:
                fence = (match["indent"], match["lang"], number, [])
            elif (title := _HEADING.match(line)) is not None:
                heading = title["title"]
            continue
        indent, lang, first, lines = fence
        if match and match["lang"] == "" and line.strip() == "```":
            fence = None
            if lang in RUN_LANGUAGES or lang == "":
                lang = RUN_LANGUAGES.get(lang, "")
                key = (heading, lang)
                counts[key] = counts.get(key, 0) + 1
                code = "\n".join(text[len(indent) :] if text.startswith(indent) else text for text in lines)
                snippets.append(Snippet(file, heading, lang, counts[key], first, code + "\n"))
            continue
        lines.append(line)
    assert fence is None, f"{file}:{fence[2]}: unclosed code fence"
    return snippets


def all_snippets() -> list[Snippet]:
    return [snippet for path in documents() for snippet in parse(path)]


def _only(rules: Iterable[Rule], snippet: Snippet) -> Rule | None:
    found = [rule for rule in rules if rule.matches(snippet)]
    assert len(found) <= 1, f"{snippet.id} matches several rules: {found}"
    return found[0] if found else None


# -- the gateways ----------------------------------------------------------------------------------


@dataclass
class Target:
    """Where a snippet runs: the working directory (the gateway's data dir is `.flight-gateway`
    in it, as the README's default) and what replaces the placeholders."""

    cwd: Path
    values: dict[str, str]
    gateway: RunningGateway
    before: Callable[[Snippet], None] = field(default=lambda snippet: None)


def _tls_helpers() -> ModuleType:
    """tests/auth/tls_helpers.py (a throwaway PKI), shared with the TLS tests."""
    module = sys.modules.get("tls_helpers")
    if module is None:
        spec = importlib.util.spec_from_file_location("tls_helpers", ROOT / "tests" / "auth" / "tls_helpers.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["tls_helpers"] = module
        spec.loader.exec_module(module)
    return module


def _demo(cwd: Path) -> Target:
    api_key, record = generate_api_key("acme", subject="etl-bot")
    jwt_secret = secrets.token_hex(32)
    issuer = "https://internal-idp.example.com"
    running = start_gateway(
        cwd / ".flight-gateway",
        demo_rows=500,
        api_keys=[{"id": record.id, "hash": record.key_hash, "tenant": "acme", "subject": "etl-bot"}],
        jwt_issuers=[
            {"issuer": issuer, "algorithms": ["HS256"], "audience": "flight-gateway", "shared_secret": jwt_secret}
        ],
    )
    claims = {"iss": issuer, "aud": "flight-gateway", "sub": "alice", "tenant_id": "acme"}
    token = jwt.encode({**claims, "exp": int(time.time()) + 3600}, jwt_secret, algorithm="HS256")
    values = {"<api key>": api_key, "<a token from your identity provider>": token}
    target = Target(cwd, values, running)

    def before(snippet: Snippet) -> None:
        if "<job id>" in snippet.code:
            # A job of this gateway, written to the SQLite file the `jobs` commands read.
            run_query(running.uri, "acme", PASSWORD, "select count(*) from orders")
            store = running.gateway.jobs
            assert isinstance(store, SqliteJobStore)
            store.flush()
            [job] = store.list("acme", limit=1)
            target.values["<job id>"] = job.id

    target.before = before
    return target


def _tls(cwd: Path) -> Target:
    running = start_gateway(cwd / ".flight-gateway", demo_rows=200, tls_self_signed=True)
    # The README's ca.pem: the self-signed certificate is its own CA.
    shutil.copy(cwd / ".flight-gateway" / "tls-self-signed.pem", cwd / "ca.pem")
    return Target(cwd, {}, running)


def _mtls(cwd: Path, identity: bool) -> Target:
    helpers = _tls_helpers()
    pki = helpers.make_pki()
    files = helpers.write_files(cwd, pki.server.cert_pem, pki.server.key_pem, pki.ca.cert_pem)
    (cwd / "client.pem").write_bytes(pki.client.cert_pem)  # SAN uri spiffe://acme.example/etl
    (cwd / "client.key").write_bytes(pki.client.key_pem)
    extra: dict[str, object] = {}
    if identity:
        rule = {"field": "uri", "pattern": "spiffe://acme.example/*", "tenant": "acme"}  # as in the README
        extra = {"tls_client_identity": True, "client_cert_rules": [rule]}
    running = start_gateway(
        cwd / ".flight-gateway",
        demo_rows=200,
        tls_cert_file=files.cert_file,
        tls_key_file=files.key_file,
        tls_client_ca_file=files.client_ca_file,
        **extra,
    )
    return Target(cwd, {}, running)


GATEWAYS: dict[str, Callable[[Path], Target]] = {
    "demo": _demo,
    "tls": _tls,
    "mtls": lambda cwd: _mtls(cwd, identity=False),
    "mtls_identity": lambda cwd: _mtls(cwd, identity=True),
}


class Targets:
    """Gateways started on first use, shut down at the end of the session."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._started: dict[str, Target] = {}

    def get(self, name: str) -> Target:
        if name not in self._started:
            cwd = self._root / name
            cwd.mkdir()
            self._started[name] = GATEWAYS[name](cwd)
        return self._started[name]

    def close(self) -> None:
        for target in self._started.values():
            target.gateway.gateway.shutdown()


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Targets]:
    started = Targets(tmp_path_factory.mktemp("snippets"))
    yield started
    started.close()


# -- running ---------------------------------------------------------------------------------------


def substitute(snippet: Snippet, target: Target, setup: Setup) -> str:
    port = target.gateway.gateway.port
    code = snippet.code.replace(DOCUMENTED_ADDRESS, f"127.0.0.1:{port}").replace("<password>", PASSWORD)
    for placeholder, value in target.values.items():
        code = code.replace(placeholder, value)
    if setup.replaces_serve:
        lines = code.splitlines()
        kept = [line for line in lines if not line.startswith("flight-gateway serve")]
        assert len(kept) == len(lines) - 1, f"{snippet.id}: expected one `flight-gateway serve` line"
        code = "\n".join(kept) + "\n"
    left = sorted(set(re.findall(r"<[a-z][a-z_ ]*>", code)))
    assert not left, f"{snippet.id}: placeholders nobody fills in: {left}"
    return code


def run(snippet: Snippet, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHT_GATEWAY_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # `flight-gateway`
    script = cwd / f"snippet-{snippet.lang}-{abs(hash(snippet.id))}"
    script.write_text(code)
    argv = [sys.executable, str(script)] if snippet.lang == "python" else ["bash", "-e", str(script)]
    return subprocess.run(  # noqa: S603 - the documents' own snippets
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, stdin=subprocess.DEVNULL
    )


SNIPPETS = all_snippets()


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[snippet.id for snippet in SNIPPETS])
def test_snippet_runs(snippet: Snippet, targets: Targets) -> None:
    assert snippet.lang, f"{snippet.file}:{snippet.line}: a code fence without a language (python, sh, text, toml, …)"
    skip = _only(SKIPPED, snippet)
    if skip is not None:
        pytest.skip(f"listed in SKIPPED: {SKIPPED[skip]}")
    rule = _only(CONFIGURED, snippet)
    setup = CONFIGURED[rule] if rule is not None else Setup("demo")
    target = targets.get(setup.gateway)
    target.before(snippet)
    code = substitute(snippet, target, setup)
    done = run(snippet, code, target.cwd)
    assert done.returncode == 0, (
        f"{snippet.file}:{snippet.line} ({snippet.heading}) exited {done.returncode}\n"
        f"--- code ---\n{code}--- stdout ---\n{done.stdout[-3000:]}\n--- stderr ---\n{done.stderr[-3000:]}"
    )


def test_every_listed_rule_still_names_a_snippet() -> None:
    for rule in [*SKIPPED, *CONFIGURED]:
        assert any(rule.matches(snippet) for snippet in SNIPPETS), f"no snippet matches {rule}: update the list"


def test_snippets_are_found() -> None:
    """The parser sees the README's and the docs' examples, nested folders included (an empty
    parametrization would pass silently)."""
    ids = {snippet.id for snippet in SNIPPETS}
    assert {
        "README.md:ADBC (Python DB-API):python-1",
        "docs/jobs.md:Job commands (for operators):sh-1",
        "docs/engines/redshift.md:Redshift simulator:sh-1",
    } <= ids
    assert len([s for s in SNIPPETS if s.file == "README.md" and s.lang == "python"]) >= 6  # one per client family
    assert len([s for s in SNIPPETS if s.lang == "python"]) >= 20
