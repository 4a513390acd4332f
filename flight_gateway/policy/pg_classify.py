"""What a PostgreSQL or Redshift statement does, read from its tokens (`pg_lexer`): the guard under
the parse tree's reading (`pg_statements`), and the whole reading of utility statements.

A tenant's allowances are checked against these classes, so the reading fails closed: text that
cannot be read (unterminated, several statements, unbalanced parentheses), that reads differently
under another server setting or version (`standard_conforming_strings`, non-ASCII spaces), or that
runs something the gateway cannot see into (DO, CALL, EXECUTE, an unknown first word) comes back
with a `problem`, and restricted tenants are refused it. Parts that run are looked into: the
statements of a WITH (a data-modifying CTE is DML), EXPLAIN ANALYZE's statement (it runs),
PREPARE's and DECLARE's statements.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from itertools import product

from flight_gateway.engines.base import StatementComplexity
from flight_gateway.kinds import StatementClass
from flight_gateway.policy.pg_keywords import BY_KEYWORD, OPAQUE
from flight_gateway.policy.pg_lexer import Lexed, LexError, Reading, Token, TokenType, lex

C = StatementClass
_FALSE = frozenset({"FALSE", "FALS", "FAL", "FA", "F", "OFF", "OF", "NO", "N", "0"})


@dataclass(frozen=True)
class Classified:
    classes: frozenset[StatementClass]  # what the statement does (empty when there is a problem)
    keywords: tuple[str, ...]  # the first keyword of the statement and of each statement in it
    problem: str | None = None  # why the statement cannot be classified
    readable: bool = True  # False: the text itself could not be read unambiguously
    inner: int | None = None  # where the statement an EXPLAIN ANALYZE, PREPARE or DECLARE holds starts
    several: bool = False  # the text holds several statements
    complexity: StatementComplexity | None = None  # from the parse tree (`pg_statements`)

    @property
    def keyword(self) -> str:
        return self.keywords[0] if self.keywords else ""


def classify(sql: str) -> Classified:
    """Classify `sql` as the server may read it. '' strings take backslash escapes when
    standard_conforming_strings is off (and always in Redshift), and whether non-ASCII spaces
    separate words (they do not in PostgreSQL) is not relied on: every other reading the text
    allows must agree with the first, or the text is unreadable (keywords: those of all readings)."""
    results: list[Classified] = []
    failures: list[str] = []
    first: Lexed | None = None
    for reading in (Reading(b, u) for b, u in product((False, True), (False, True))):
        if first is not None and not _may_differ(first, reading):
            continue
        try:
            lexed = lex(sql, reading)
        except LexError as exc:
            failures.append(str(exc))
            continue
        first = first or lexed
        results.append(_classify_tokens(lexed.tokens))
    keywords = tuple(dict.fromkeys(k for result in results for k in result.keywords))
    if failures and not results:
        return Classified(frozenset(), keywords, failures[0], readable=False)
    if failures or len({(r.classes, r.problem, r.keywords) for r in results}) > 1:
        problem = (
            "the text reads differently depending on server settings and versions: write backslashes "
            "in E'' strings and use only ASCII spaces outside quotes"
        )
        return Classified(frozenset(), keywords, problem, readable=False)
    return results[0]


def _may_differ(first: Lexed, reading: Reading) -> bool:
    """Whether `reading` can see other tokens than the first reading did (which saw `first`)."""
    return (reading.backslash_strings and first.backslash_in_string) or (reading.unicode_spaces and first.unicode_space)


def _classify_tokens(tokens: list[Token]) -> Classified:
    statements: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:  # one pass: parentheses balanced, statements cut at `;`
        if token.type is TokenType.PUNCT:
            if token.text == "(":
                depth += 1
            elif token.text == ")":
                depth -= 1
                if depth < 0:
                    break
            elif token.text == ";":
                statements.append([])
                continue
        statements[-1].append(token)
    if depth:
        return Classified(frozenset(), (), "the parentheses do not balance", readable=False)
    statements = [s for s in statements if s]
    if not statements:
        return Classified(frozenset(), (), "the text holds no statement", readable=False)
    if len(statements) > 1:
        keywords = tuple(k for s in statements for k in _statement(s).keywords)
        return Classified(frozenset(), keywords, "the text holds several statements; send one at a time", False,
                          several=True)  # fmt: skip
    return _statement(statements[0])


def _split(tokens: Iterable[Token], separator: str) -> list[list[Token]]:
    """Tokens cut at `separator` punctuation outside parentheses."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.type is TokenType.PUNCT:
            if token.text == separator and depth == 0:
                parts.append([])
                continue
            depth += {"(": 1, ")": -1}.get(token.text, 0)
        parts[-1].append(token)
    return parts


def _is(tokens: list[Token], at: int, text: str) -> bool:
    return at < len(tokens) and tokens[at].type is TokenType.PUNCT and tokens[at].text == text


def _word(tokens: list[Token], at: int) -> str:
    return tokens[at].keyword if at < len(tokens) else ""


def _group_end(tokens: list[Token], at: int) -> int:
    """Index just past the parenthesis that closes the one at `at` (balance is checked up front)."""
    depth = 0
    for index in range(at, len(tokens)):
        if _is(tokens, index, "("):
            depth += 1
        elif _is(tokens, index, ")"):
            depth -= 1
            if depth == 0:
                return index + 1
    return len(tokens)


def _unknown(problem: str, *keywords: str) -> Classified:
    return Classified(frozenset(), tuple(k for k in keywords if k), problem)


def _statement(tokens: list[Token]) -> Classified:  # one branch per leading keyword
    at = 0
    while _is(tokens, at, "("):
        at += 1
    keyword = _word(tokens, at)
    if not keyword:
        shown = tokens[at].text[:20] if at < len(tokens) else "nothing"
        return _unknown(f"the statement starts with {shown!r}, not with a keyword the gateway knows")
    rest = tokens[at + 1 :]
    if keyword == "WITH":
        return _with(rest)
    if keyword == "EXPLAIN":
        return _explain(rest)
    if keyword == "PREPARE":
        return _prepare(rest)
    if keyword == "DECLARE":
        return _declare(rest)
    if keyword in OPAQUE:
        return _unknown(OPAQUE[keyword], keyword)
    if keyword in ("SELECT", "VALUES", "TABLE"):
        return Classified(_query_classes(rest), (keyword,))
    if keyword == "COPY":  # COPY … FROM writes rows; COPY (query) TO and COPY table TO do not
        reads_in = any(t.keyword == "FROM" for _, t in _top_level(rest))
        return Classified(frozenset({C.DATA_MOVEMENT, C.DML} if reads_in else {C.DATA_MOVEMENT}), (keyword,))
    if keyword in BY_KEYWORD:
        return Classified(frozenset({BY_KEYWORD[keyword]}), (keyword,))
    return _unknown(f"statements starting with {keyword} are not known to the gateway", keyword)


def _top_level(tokens: list[Token]) -> Iterator[tuple[int, Token]]:
    """The tokens outside parentheses, with their index."""
    depth = 0
    for index, token in enumerate(tokens):
        if token.type is TokenType.PUNCT and token.text == ")":
            depth -= 1
        if depth == 0:
            yield index, token
        if token.type is TokenType.PUNCT and token.text == "(":
            depth += 1


def _query_classes(tokens: list[Token]) -> frozenset[StatementClass]:
    """A SELECT is a query, unless it creates a table (SELECT … INTO) or hides a data-modifying
    statement in parentheses (PostgreSQL refuses those; the gateway does not rely on it)."""
    into = modifies = False
    depth = 0
    for index, token in enumerate(tokens):
        if token.type is TokenType.PUNCT:
            if token.text == "(":
                depth += 1
                modifies = modifies or _modifies(tokens, index + 1)
            elif token.text == ")":
                depth -= 1
        elif depth == 0 and token.type is TokenType.WORD and len(token.text) == 4 and token.keyword == "INTO":
            into = True
    classes = {C.DDL, C.QUERY} if into else {C.QUERY}  # SELECT … INTO creates a table from a query
    if modifies:
        classes.add(C.DML)
    return frozenset(classes)


def _modifies(tokens: list[Token], at: int) -> bool:
    word, after = _word(tokens, at), tokens[at + 1] if at + 1 < len(tokens) else None
    if word in ("INSERT", "MERGE"):
        return after is not None and after.keyword == "INTO"
    if word == "DELETE":
        return after is not None and after.keyword == "FROM"
    if word == "UPDATE":
        return after is not None and after.type in (TokenType.WORD, TokenType.QUOTED)
    return False


def _combined(classes: Iterable[StatementClass], parts: list[Classified], *keywords: str) -> Classified:
    """A statement doing `classes` that holds statements (`parts`) which run, or may run, with it:
    what they do is added, except reading (a query inside a statement is part of what it does)."""
    keywords = (*keywords, *(k for part in parts for k in part.keywords))
    for part in parts:
        if part.problem is not None:
            return Classified(frozenset(), keywords, part.problem, part.readable)
    return Classified(frozenset(set(classes).union(*(part.classes - {C.QUERY} for part in parts))), keywords)


def _with(tokens: list[Token]) -> Classified:
    """WITH [RECURSIVE] name [(columns)] AS [[NOT] MATERIALIZED] (statement) [SEARCH …] [CYCLE …], … main"""
    at = 1 if _word(tokens, 0) == "RECURSIVE" else 0
    bodies: list[Classified] = []
    while True:
        if at >= len(tokens) or tokens[at].type not in (TokenType.WORD, TokenType.QUOTED):
            return _unknown("a WITH clause could not be read", "WITH")
        at += 1
        if _is(tokens, at, "("):
            at = _group_end(tokens, at)
        if _word(tokens, at) != "AS":
            return _unknown("a WITH clause could not be read", "WITH")
        at += 1
        if _word(tokens, at) == "NOT":
            at += 1
        if _word(tokens, at) == "MATERIALIZED":
            at += 1
        if not _is(tokens, at, "("):
            return _unknown("a WITH clause could not be read", "WITH")
        end = _group_end(tokens, at)
        bodies.append(_statement(tokens[at + 1 : end - 1]))
        at = end
        while _word(tokens, at) in ("SEARCH", "CYCLE"):
            stop = "SET" if _word(tokens, at) == "SEARCH" else "USING"
            while at < len(tokens) and _word(tokens, at) != stop:
                at += 1
            at += 2  # the keyword and the column it names
        if not _is(tokens, at, ","):
            break
        at += 1
    main = _statement(tokens[at:])
    return _combined(main.classes, [main, *bodies], "WITH")


def _explain(tokens: list[Token]) -> Classified:
    """EXPLAIN only plans, unless ANALYZE (or ANALYSE) is on: then its statement runs."""
    analyze, at = False, 0
    if _is(tokens, 0, "("):
        at = _group_end(tokens, 0)
        for option in _split(tokens[1 : at - 1], ","):
            if option and option[0].keyword in ("ANALYZE", "ANALYSE"):
                analyze = analyze or not _is_false(option[1:])
    else:
        while _word(tokens, at) in ("ANALYZE", "ANALYSE", "VERBOSE"):
            analyze = analyze or _word(tokens, at) != "VERBOSE"
            at += 1
    inner = _statement(tokens[at:])
    start = tokens[at].at if at < len(tokens) else None
    if inner.problem is not None or analyze:
        return Classified(inner.classes, ("EXPLAIN", *inner.keywords), inner.problem, inner.readable, start)
    return Classified(frozenset({C.QUERY}), ("EXPLAIN", *inner.keywords))  # it only plans


def _is_false(value: list[Token]) -> bool:
    if len(value) != 1:
        return False
    text = value[0].text.strip("'") if value[0].type is TokenType.STRING else value[0].text
    return text.upper() in _FALSE


def _prepare(tokens: list[Token]) -> Classified:
    """PREPARE name [(types)] AS statement; PREPARE TRANSACTION 'id'."""
    if _word(tokens, 0) == "TRANSACTION":
        return Classified(frozenset({C.TRANSACTION}), ("PREPARE",))
    at = 1
    if _is(tokens, at, "("):
        at = _group_end(tokens, at)
    if _word(tokens, at) != "AS":
        return _unknown("a PREPARE statement could not be read", "PREPARE")
    return _at(_combined({C.PROCEDURAL}, [_statement(tokens[at + 1 :])], "PREPARE"), tokens, at + 1)


def _declare(tokens: list[Token]) -> Classified:
    """DECLARE name [options] CURSOR [WITH[OUT] HOLD] FOR statement."""
    for at, token in _top_level(tokens):
        if token.keyword == "FOR":
            return _at(_combined({C.PROCEDURAL}, [_statement(tokens[at + 1 :])], "DECLARE"), tokens, at + 1)
    return _unknown("a DECLARE statement could not be read", "DECLARE")


def _at(classified: Classified, tokens: list[Token], at: int) -> Classified:
    """`classified`, knowing where the statement it holds starts (tokens[at])."""
    return replace(classified, inner=tokens[at].at) if at < len(tokens) else classified
