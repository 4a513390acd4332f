"""One catalog of error codes: every code the package raises is in `ErrorCode` with the status it is
raised with, no engine exception maps to INTERNAL, and `docs/errors.md` is rendered from the catalog."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from flight_gateway.engines.duckdb.errors import map_duckdb_error, map_stream_error
from flight_gateway.errors import ErrorCode, Status, render_error_docs

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "flight_gateway"
# The helpers in errors.py and the status each one raises with.
HELPERS = {
    "invalid": "INVALID_ARGUMENT",
    "not_found": "NOT_FOUND",
    "denied": "PERMISSION_DENIED",
    "unimplemented": "UNIMPLEMENTED",
}


def _status(node: ast.expr) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Status":
        return node.attr
    return None


def _member(node: ast.expr) -> str | None:
    """X for `ErrorCode.X`."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ErrorCode":
        return node.attr
    return None


def _codes(node: ast.expr) -> list[str]:
    """The code a literal (or `ErrorCode.X.name`) names, or the codes of both branches of
    `"A" if c else "B"` and of `recorded or "B"`."""
    if isinstance(node, ast.IfExp):
        return _codes(node.body) + _codes(node.orelse)
    if isinstance(node, ast.BoolOp):
        return [code for value in node.values for code in _codes(value)]
    if isinstance(node, ast.Attribute) and node.attr == "name" and (member := _member(node.value)):
        return [member]
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isupper():
        return [node.value] if node.value.replace("_", "").isalnum() else []
    return []


def raised_codes(tree: ast.AST) -> Iterator[tuple[str, str, int]]:
    """(status, code, line) for each `helper("CODE", ...)` call, each `error(ErrorCode.CODE, ...)` (its
    status is the catalog's) and each `Status.X, "CODE"` pair in a call or tuple (GatewayError(...),
    rule tables)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in HELPERS and node.args:
                for code in _codes(node.args[0]):
                    yield HELPERS[name], code, node.lineno
            if name == "error" and node.args and (member := _member(node.args[0])):
                known = ErrorCode.__members__.get(member)
                yield known.status.value if known else "?", member, node.lineno
            if name == "cancelled":
                yield "CANCELLED", "CANCELLED", node.lineno
            items = list(node.args)
        elif isinstance(node, ast.Tuple):
            items = list(node.elts)
        else:
            continue
        for left, right in zip(items, items[1:], strict=False):
            status = _status(left)
            for code in _codes(right) if status else []:
                yield status, code, node.lineno


def test_the_collector_sees_every_raise_form() -> None:
    source = (
        'invalid("A_CODE", "m")\n'
        'denied("D_CODE" if x else "E_CODE", "m")\n'
        'GatewayError(\n    Status.NOT_FOUND,\n    "B_CODE",\n    "m",\n)\n'
        '_MAP = ((KeyError, Status.UNAVAILABLE, "C_CODE", "hint"),)\n'
    )
    found = {(s, c) for s, c, _ in raised_codes(ast.parse(source))}
    assert found == {
        ("INVALID_ARGUMENT", "A_CODE"),
        ("NOT_FOUND", "B_CODE"),
        ("UNAVAILABLE", "C_CODE"),
        ("PERMISSION_DENIED", "D_CODE"),
        ("PERMISSION_DENIED", "E_CODE"),
    }


def test_the_collector_sees_catalog_raise_forms() -> None:
    source = (
        'error(ErrorCode.JOB_NOT_FOUND, "m")\n'
        'GatewayError(Status.CANCELLED, recorded or ErrorCode.F_CODE.name, "m")\n'
        'error(ErrorCode.NO_SUCH_CODE, "m")\n'
    )
    found = {(s, c) for s, c, _ in raised_codes(ast.parse(source))}
    assert found == {("NOT_FOUND", "JOB_NOT_FOUND"), ("CANCELLED", "F_CODE"), ("?", "NO_SUCH_CODE")}


def test_every_raised_code_is_in_the_catalog_with_its_status() -> None:
    problems = []
    seen = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        for status, code, line in raised_codes(ast.parse(path.read_text(), str(path))):
            seen += 1
            where = f"{path.relative_to(ROOT)}:{line}"
            if code not in ErrorCode.__members__:
                problems.append(f"{where}: {code} is not in ErrorCode")
            elif ErrorCode[code].status.value != status:
                problems.append(f"{where}: {code} raised as {status}, catalog says {ErrorCode[code].status.value}")
    assert seen > 100, "the collector found too few raise sites"
    assert not problems, "\n".join(problems)


def test_catalog_entries_are_distinct_and_documented() -> None:
    assert len(ErrorCode.__members__) == len(list(ErrorCode)), "two codes share their facts (enum aliases)"
    for code in ErrorCode:
        assert code.meaning and not code.meaning.endswith(".")
        if code.status is Status.INTERNAL:
            assert "bug" in code.meaning, f"{code.name}: INTERNAL must mean a gateway bug"


def test_docs_errors_md_is_generated_from_the_catalog() -> None:
    committed = (ROOT / "docs" / "errors.md").read_text()
    assert committed == render_error_docs(), "regenerate: python -m flight_gateway.errors > docs/errors.md"


DUCKDB_ERRORS = sorted(
    (cls for cls in vars(duckdb).values() if isinstance(cls, type) and issubclass(cls, duckdb.Error)),
    key=lambda cls: cls.__name__,
)


@pytest.mark.parametrize("cls", DUCKDB_ERRORS, ids=lambda cls: cls.__name__)
def test_no_duckdb_exception_maps_to_internal(cls: type[duckdb.Error]) -> None:
    mapped = map_duckdb_error(cls("Some Error: raised on purpose"))
    assert mapped.status is not Status.INTERNAL, mapped.code
    assert ErrorCode[mapped.code].status is mapped.status


@pytest.mark.parametrize(
    "kind", ["Binder", "Catalog", "Parser", "INTERNAL", "FATAL", "Dependency", "Type Mismatch", "Some New"]
)
def test_no_duckdb_stream_error_maps_to_internal(kind: str) -> None:
    mapped = map_stream_error(OSError(f"{kind} Error: raised on purpose"))
    assert mapped.status is not Status.INTERNAL, mapped.code
    assert ErrorCode[mapped.code].status is mapped.status
