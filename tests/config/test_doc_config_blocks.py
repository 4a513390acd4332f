"""Every configuration block of README.md and docs/**/*.md, loaded through the real config loader.

A ```toml block, and each ```sh / ```env block (or `$ ` transcript in a ```text block) that sets
FLIGHT_GATEWAY_* variables, either loads as it stands, or fails with a message the same document
shows (a transcript's output must match exactly). A block that loads must not hold a placeholder
(`<…>`, `…`, `openssl rand …`) as a secret key: copying the docs must never configure a guessable key.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from flight_gateway.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
_SHELL = {"sh", "bash", "shell", "console", "env"}
_PLACEHOLDER = re.compile(r"<[^<>]*>|…|openssl rand|paste ")
_ORIGIN = re.compile(r" \(config key '[^']*'[^)]*\)$")


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int
    lang: str
    body: str

    @property
    def id(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}:{self.lang}"


@dataclass(frozen=True)
class Command:
    env: dict[str, str]
    serving: bool
    output: list[str] | None  # a transcript's printed lines


def _docs() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _blocks() -> list[Block]:
    found = []
    for doc in _docs():
        text = doc.read_text()
        for match in _FENCE.finditer(text):
            block = Block(doc, text.count("\n", 0, match.start()) + 1, match.group(1), match.group(2))
            if block.lang == "toml" or _commands(block):
                found.append(block)
    return found


def _commands(block: Block) -> list[Command]:
    """Shell lines of the block that set FLIGHT_GATEWAY_* variables (exports accumulate)."""
    if block.lang not in _SHELL | {"text"}:
        return []
    lines = block.body.splitlines()
    exported: dict[str, str] = {}
    commands = []
    for index, raw in enumerate(lines):
        transcript = raw.startswith("$ ")
        if block.lang == "text" and not transcript:
            continue
        line = raw.removeprefix("$ ").strip()
        if not line or line.startswith("#"):
            continue
        tokens = shlex.split(line, comments=True)
        env = dict(exported)
        if tokens[:1] == ["export"]:
            exported.update(_assignments(tokens[1:]))
            continue
        leading = []
        for token in tokens:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", token):
                break
            leading.append(token)
        env.update(_assignments(leading))
        env.update(_assignments(t for previous, t in zip(tokens, tokens[1:], strict=False) if previous == "-e"))
        program = tokens[len(leading) : len(leading) + 2]
        serving = program == ["flight-gateway", "serve"] or program == ["docker", "run"]
        if not any(name.startswith("FLIGHT_GATEWAY_") for name in env):
            continue
        output = None
        if transcript:
            rest = lines[index + 1 :]
            end = next((i for i, text in enumerate(rest) if text.startswith("$ ")), len(rest))
            output = rest[:end]
        commands.append(Command(env, serving, output))
    return commands


def _assignments(tokens: Iterable[str]) -> dict[str, str]:
    pairs = (token.split("=", 1) for token in tokens if "=" in token)
    return {name: value for name, value in pairs if name.startswith("FLIGHT_GATEWAY_")}


def _assert_no_placeholder_secret(settings: Settings, block: Block) -> None:
    secrets: dict[str, SecretStr | None] = {f"token_keys.{kid}": key for kid, key in settings.token_keys.items()}
    secrets |= {f"jwt_issuers.{i}.shared_secret": j.shared_secret for i, j in enumerate(settings.jwt_issuers)}
    for key, secret in secrets.items():
        assert secret is None or not _PLACEHOLDER.search(secret.get_secret_value()), (
            f"{block.id}: loads with a placeholder as {key}"
        )


def _assert_documented(error: ConfigError, block: Block) -> None:
    """Each line of the message (without where the key came from) appears in the same document."""
    text = block.doc.read_text()
    for line in str(error).splitlines():
        core = _ORIGIN.sub("", line.strip())
        assert core in text, f"{block.id}: fails with a message the document does not show:\n{error}"


BLOCKS = _blocks()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.upper().startswith("FLIGHT_GATEWAY_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_the_docs_have_configuration_blocks() -> None:
    langs = {block.lang for block in BLOCKS}
    assert "toml" in langs and langs & _SHELL and len(BLOCKS) >= 10


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_a_configuration_block_loads_or_fails_as_documented(block: Block, clean_env: pytest.MonkeyPatch) -> None:
    if block.lang == "toml":
        config = Path("gateway.toml")  # the name the docs use in their messages
        config.write_text(block.body)
        try:
            settings = load_settings(config)
        except ConfigError as error:
            _assert_documented(error, block)
            return
        _assert_no_placeholder_secret(settings, block)
        return
    for command in _commands(block):
        for name, value in command.env.items():
            clean_env.setenv(name, value)
        try:
            settings = load_settings(None, serving=command.serving)
        except ConfigError as error:
            if command.output is not None:
                assert command.output == f"flight-gateway: {error}".splitlines(), block.id
            else:
                _assert_documented(error, block)
            continue
        assert command.output is None or not any("flight-gateway:" in line for line in command.output), (
            f"{block.id}: documented to fail, but loads"
        )
        _assert_no_placeholder_secret(settings, block)
