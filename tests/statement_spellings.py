"""Adversarial spellings of statements, shared by the classifier's unit tests and the gateway tests.

Each spelling hides a write (or a statement the Redshift engine refuses) from a naive reading:
nested comments of depth 1 to 5 in every position, mixed case, parentheses, data-modifying WITH,
EXPLAIN ANALYZE, PREPARE/EXECUTE, DO, CALL, E'' strings holding `';`, dollar quotes holding `*/`,
string continuation, and non-ASCII spaces before keywords. `{dml}` is the hidden write.
"""

from __future__ import annotations

from dataclasses import dataclass

DEPTHS = (1, 2, 3, 4, 5)


def nested(depth: int) -> str:
    """A block comment nested `depth` deep, with text on every level: /* l0 /* l1 */ r0 */."""
    return "".join(f"/* l{i} " for i in range(depth)) + "*/" + "".join(f" r{i} */" for i in reversed(range(depth - 1)))


@dataclass(frozen=True)
class Spelling:
    id: str
    template: str  # {dml} / {ddl} are filled with a write of the test's choosing
    expected: str  # "dml", "ddl", "other": what it must classify as; "refused": not understood

    def render(self, dml: str, ddl: str = "CREATE TABLE spelled_t (a int)") -> str:
        return self.template.format(dml=dml, ddl=ddl)


def _comment_spellings() -> list[Spelling]:
    out = []
    for depth in DEPTHS:
        c = nested(depth)
        out += [
            Spelling(f"nested-{depth}-leading", f"{c} {{dml}}", "dml"),
            Spelling(f"nested-{depth}-tight", f"{c}{{dml}}", "dml"),
            Spelling(f"nested-{depth}-in-parens", f"WITH w AS ({c} {{dml}} RETURNING 1) ({c} SELECT 1 FROM w)", "dml"),
            Spelling(f"nested-{depth}-in-cte", f"WITH w AS ({c} {{dml}} RETURNING 1) SELECT 1 FROM w", "dml"),
            Spelling(f"nested-{depth}-after-explain", f"EXPLAIN {c} ANALYZE {c} {{dml}}", "dml"),
            Spelling(f"nested-{depth}-ddl", f"{c} {{ddl}}", "ddl"),
        ]
    return out


SPELLINGS: list[Spelling] = [
    *_comment_spellings(),
    Spelling("unclosed-nesting-hides-nothing", "/* a /* b */ {dml}", "refused"),
    Spelling("line-comment", "-- SELECT\n{dml}", "dml"),
    Spelling("line-comment-cr", "-- SELECT\r{dml}", "dml"),
    Spelling("comment-inside-line-comment", "-- /* \n{dml} -- */", "dml"),
    Spelling("mixed-case", "/*x*/uPdAtE shared.notes SET body = body", "dml"),
    Spelling("parentheses", "((/* x */ WITH w AS ({dml} RETURNING 1) SELECT 1 FROM w))", "dml"),
    Spelling("cte-update", "WITH w AS ({dml} RETURNING 1) SELECT count(*) FROM w", "dml"),
    Spelling("cte-materialized", "WITH w AS MATERIALIZED ({dml} RETURNING 1) SELECT 1 FROM w", "dml"),
    Spelling(
        "cte-not-materialized-second", "WITH a AS (SELECT 1), w AS NOT MATERIALIZED ({dml} RETURNING 1) SELECT 1", "dml"
    ),
    Spelling("cte-recursive-columns", "WITH RECURSIVE w(x) AS ({dml} RETURNING 1) SELECT x FROM w", "dml"),
    Spelling("cte-quoted-name", 'WITH "w ) select" AS ({dml} RETURNING 1) SELECT 1', "dml"),
    Spelling("explain-analyze", "EXPLAIN ANALYZE {dml}", "dml"),
    Spelling("explain-analyse-verbose", "explain analyse verbose {dml}", "dml"),
    Spelling("explain-options", "EXPLAIN (FORMAT JSON, ANALYZE) {dml}", "dml"),
    Spelling("explain-options-true", "EXPLAIN (ANALYZE true, BUFFERS on) {dml}", "dml"),
    Spelling("explain-options-string", "EXPLAIN (ANALYZE 'yes') {dml}", "dml"),
    Spelling("prepare", "PREPARE p AS {dml}", "dml"),
    Spelling("prepare-typed", "/* a /* b */ c */ PREPARE p (int) AS {dml}", "dml"),
    Spelling("execute", "EXECUTE p", "refused"),
    Spelling("execute-commented", "/* a /* b */ c */ EXECUTE p (1)", "refused"),
    Spelling("do", "DO $$ BEGIN {dml}; END $$", "refused"),
    Spelling("do-tagged", "/* a /* b */ c */ DO LANGUAGE plpgsql $x$ BEGIN {dml}; END $x$", "refused"),
    Spelling("call", "CALL shared.p()", "refused"),
    Spelling("call-commented", "/* /* */ */ cAlL shared.p()", "refused"),
    # E'' strings: a backslash escapes the quote, so `';` stays inside the string.
    Spelling("e-string-then-write", "SELECT E'\\'; ' AS s; {dml}", "refused"),
    # A plain string ends at the quote after the backslash: the write is a second statement.
    Spelling("plain-backslash-then-write", "SELECT 'a\\'; {dml}; --'", "refused"),
    Spelling("unicode-escape-then-write", "SELECT U&'\\'; {dml}; --'", "refused"),
    # A string reopened after a newline goes on as an E'' string (scan.l quotecontinue).
    Spelling("e-string-continued", "SELECT E'a'\n'\\'' ; {dml}; --'", "refused"),
    Spelling("dollar-quote-holds-comment-end", "SELECT $$ */ $$ AS s; {dml}", "refused"),
    Spelling("comment-holds-dollar", "/* $$ */ {dml} /* $$ */", "dml"),
    Spelling("tagged-dollar-holds-tag", "SELECT $a$ $$ */ $a$; {dml}", "refused"),
    Spelling("quoted-identifier-holds-comment", 'SELECT 1 AS "/*"; {dml}', "refused"),
    Spelling("two-statements", "SELECT 1; {dml}", "refused"),
    Spelling("two-statements-commented", "SELECT 1 /* ; */ ; /* a /* b */ */ {dml}", "refused"),
    Spelling("nbsp-before-keyword", "\u00a0{dml}", "refused"),
    Spelling("em-space-before-keyword", "/* c */\u2003{dml}", "refused"),
    Spelling("ideographic-space-before-keyword", "(\u3000{dml} RETURNING 1)", "refused"),
    Spelling("select-into", "/* a /* b */ */ SELECT 1 AS a INTO spelled_t", "ddl"),
    Spelling("subquery-cte", "SELECT * FROM (WITH w AS ({dml} RETURNING 1) SELECT 1) s", "dml"),
    Spelling("unclosed-string", "SELECT 'abc; {dml}", "refused"),
    Spelling("unclosed-dollar", "SELECT $q$ abc; {dml}", "refused"),
    Spelling("unclosed-identifier", 'SELECT "abc; {dml}', "refused"),
    Spelling("unbalanced", "SELECT 1) ; ({dml}", "refused"),
]

# What the Redshift engine refuses for every tenant, spelled as a naive reading would miss it.
REDSHIFT_REFUSED: list[tuple[str, str]] = [
    *((f"begin-nested-{d}", f"{nested(d)} BEGIN") for d in DEPTHS),
    *((f"set-nested-{d}", f"{nested(d)} SET search_path TO public") for d in DEPTHS),
    *((f"copy-nested-{d}", f"{nested(d)} COPY shared.notes FROM 's3://bucket/key' IAM_ROLE 'arn:aws:iam::1:role/r'")
      for d in DEPTHS),
    *((f"unload-nested-{d}", f"{nested(d)} UNLOAD ('select 1') TO 's3://bucket/p' IAM_ROLE 'arn:aws:iam::1:role/r'")
      for d in DEPTHS),
    *((f"prepare-nested-{d}", f"{nested(d)} PREPARE p AS SELECT 1") for d in DEPTHS),
    ("begin-mixed-case", "bEgIn"),
    ("start-transaction", "-- c\nSTART TRANSACTION"),
    ("set-tight", "/**/set/**/query_group/**/to/**/'x'"),
    ("reset", "(RESET ALL)"),
    ("copy-unclosed-nesting", "/* a /* b */ COPY shared.notes FROM 's3://b/k' IAM_ROLE 'arn:aws:iam::1:role/r'"),
    ("copy-nbsp", "\u00a0COPY shared.notes FROM 's3://b/k' IAM_ROLE 'arn:aws:iam::1:role/r'"),
    ("unload-ideographic-space", "/* c */\u3000unload ('select 1') to 's3://b/p' iam_role 'arn:aws:iam::1:role/r'"),
    ("execute", "/* a /* b */ c */ EXECUTE p"),
    ("deallocate", "DEALLOCATE ALL"),
    ("declare", "DECLARE c CURSOR FOR SELECT 1"),
    ("select-then-copy", "SELECT 1; COPY shared.notes FROM 's3://b/k' IAM_ROLE 'arn:aws:iam::1:role/r'"),
    ("string-then-set", "SELECT 'a\\'; SET search_path TO x; --'"),
    ("e-string-continued-then-begin", "SELECT E'a'\n'\\'' ; BEGIN; --'"),
]  # fmt: skip

# Valid analytical SQL: comments, strings, quoted names and semicolons in literals stay queries
# (SHOW is a session statement, and SELECT … FOR UPDATE locks rows: neither is here).
QUERIES: list[str] = [
    "select 1",
    "SELECT /* a /* nested */ comment */ count(*) FROM t -- trailing ; comment",
    "-- leading comment\nSELECT a, b FROM t WHERE c = 'x;y' ORDER BY 1;",
    "WITH a AS (SELECT 1 AS x), b AS MATERIALIZED (SELECT x FROM a) SELECT * FROM b",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n FROM r",
    "WITH RECURSIVE r(n) AS (SELECT 1) SEARCH DEPTH FIRST BY n, m SET ord CYCLE n, m SET c USING p SELECT * FROM r",
    "((SELECT 1) UNION (SELECT 2))",
    "SELECT $$a;b */ $$ AS s, $tag$ ' $$ $tag$ AS t",
    'SELECT E\'it\\\'s; fine\' AS s, \'it\'\'s\' AS t, "a;b" FROM "weird ""name"""',
    "SELECT regexp_replace(x, '\\s+', ' ') FROM t",
    "SELECT 2 */* c */ 3, 4 --- 5\n",
    "SELECT * FROM (WITH w AS (SELECT 1) SELECT * FROM w) s",
    "SELECT 'a'\n'b' AS continued",
    "VALUES (1, 'a'), (2, 'b')",
    "TABLE t",
    "EXPLAIN SELECT 1",
    "EXPLAIN (ANALYZE off) UPDATE t SET a = 1",
    "EXPLAIN ANALYZE SELECT 1",
    "SELECT B'101', X'ff', N'n', U&'\\0041' AS u",
    "SELECT 'über' AS ü, 1 AS \"日本\" FROM t",
    'SELECT update_count, "update" FROM t',
]
