"""What a statement does and how complex it is, read from its sqlglot parse tree.

Every node counts, wherever it sits: a data-modifying statement in a CTE or a subquery is DML,
`SELECT … INTO` creates a table (DDL and a query), `SELECT … FOR UPDATE/SHARE` locks rows (DML: it
is not a pure read, and PostgreSQL needs UPDATE rights for it), a function known to reach outside
the statement's rows (`pg_keywords.FUNCTIONS`) adds its class. A node the parser could only keep as
text (`exp.Command`) is not understood.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from flight_gateway.engines.base import StatementComplexity
from flight_gateway.kinds import StatementClass
from flight_gateway.policy.pg_keywords import FUNCTIONS

C = StatementClass
_QUERIES = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)
_DML = (exp.Insert, exp.Update, exp.Delete, exp.Merge)
_DDL = (exp.Create, exp.Drop, exp.Alter, exp.TruncateTable, exp.Comment)
# Top-level nodes that are statements; anything else (a bare name parsed as a column or an
# alias: sqlglot reads `CHECKPOINT` or `LISTEN x` so) is not a statement the gateway understands.
STATEMENTS = (*_QUERIES, *_DML, *_DDL)


@dataclass(frozen=True)
class TreeReading:
    classes: frozenset[StatementClass]
    problem: str | None = None


def tree_classes(tree: exp.Expr) -> TreeReading:
    if not isinstance(tree, STATEMENTS):
        return TreeReading(frozenset(), f"the gateway's SQL parser does not read this as a statement ({tree.key})")
    # A query inside another statement is part of what that statement does (INSERT … SELECT is DML).
    classes = {C.QUERY} if isinstance(tree, _QUERIES) else set()
    for node in tree.walk():
        if isinstance(node, exp.Command):
            return TreeReading(frozenset(), f"the gateway's SQL parser cannot read a part of it ({node.name})")
        if isinstance(node, _DML):
            classes.add(C.DML)
        elif isinstance(node, _DDL):
            classes.add(C.DDL)
        elif isinstance(node, exp.Select):
            if node.args.get("into") is not None:
                classes.update((C.DDL, C.QUERY))
            if node.args.get("locks"):
                classes.add(C.DML)
        elif isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in FUNCTIONS:
                classes.add(FUNCTIONS[name])
        elif isinstance(node, exp.Copy):
            classes.add(C.DATA_MOVEMENT)
    return TreeReading(frozenset(classes))


def complexity(tree: exp.Expr) -> StatementComplexity:
    """Joins: JOIN clauses and comma-separated tables after the first, in every query block.
    Subquery depth: how deep query blocks nest in others (derived tables, CTEs, scalar, IN, EXISTS)."""
    depth = 0
    for select in tree.find_all(exp.Select):
        nested, parent = 0, select.parent
        while parent is not None:
            nested += isinstance(parent, exp.Select)
            parent = parent.parent
        depth = max(depth, nested)
    return StatementComplexity(sum(1 for _ in tree.find_all(exp.Join)), depth)
