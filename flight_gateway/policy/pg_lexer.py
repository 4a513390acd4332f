"""PostgreSQL's lexical rules (its `scan.l`), as far as classifying a statement needs them.

Text is read the way the server reads it: block comments nest (in Redshift too: nesting came
with PostgreSQL 7.1, before Redshift's 8.0 base), `--` comments end at CR or LF,
'' strings double their quotes (a backslash is a plain character unless
standard_conforming_strings is off), E'' strings take backslash escapes, B'' and X'' strings end
at the first quote, a string closed and reopened across a newline goes on in the same state,
"" and U&"" identifiers double their quotes, $tag$ … $tag$ bodies end only at the same tag, and
every non-ASCII character is part of a word (so U+00A0 before a keyword is not whitespace to the
server, and not to us). Text this cannot read raises LexError: callers fail closed on it.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class LexError(ValueError):
    """The text cannot be read as PostgreSQL reads it (unterminated comment, string, quote)."""


class TokenType(enum.Enum):
    WORD = "word"  # an unquoted identifier or keyword
    QUOTED = "quoted"  # a "quoted" identifier
    STRING = "string"
    NUMBER = "number"
    PARAM = "param"  # $1
    OPERATOR = "operator"
    PUNCT = "punct"  # ( ) [ ] , ; : . and anything else on its own


@dataclass(frozen=True, slots=True)
class Token:
    type: TokenType
    text: str  # as written

    @property
    def keyword(self) -> str:
        """An unquoted ASCII word in upper case (how keywords match), else ''."""
        return self.text.upper() if self.type is TokenType.WORD and self.text.isascii() else ""


@dataclass(frozen=True)
class Reading:
    """One way the server may read the text: settings and server versions differ in these."""

    backslash_strings: bool = False  # standard_conforming_strings = off: '' strings take \ escapes
    unicode_spaces: bool = False  # non-ASCII spaces (U+00A0, U+3000, ...) separate words


@dataclass(frozen=True)
class Lexed:
    tokens: list[Token]
    # Whether another Reading could see different tokens: a '' string held a backslash, a word
    # held a non-ASCII space.
    backslash_in_string: bool
    unicode_space: bool


_SPACE = re.compile(r"[ \t\n\r\f\v]+")
_WORD = re.compile(r"[A-Za-z_\x80-\U0010ffff][A-Za-z_0-9$\x80-\U0010ffff]*")
_UNICODE_SPACE = re.compile(r"[^\S\x00-\x7f]")  # whitespace, not ASCII
_SPACE_OR_UNICODE = re.compile(r"(?:[ \t\n\r\f\v]|[^\S\x00-\x7f])+")
_WORD_NO_UNICODE_SPACE = re.compile(
    r"(?![^\S\x00-\x7f])[A-Za-z_\x80-\U0010ffff](?:(?![^\S\x00-\x7f])[A-Za-z_0-9$\x80-\U0010ffff])*"
)
_NUMBER = re.compile(r"0[xXoObB][0-9A-Fa-f_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?")
_PARAM = re.compile(r"\$\d+")
_DOLLAR = re.compile(r"\$(?:[A-Za-z_\x80-\U0010ffff][A-Za-z_0-9\x80-\U0010ffff]*)?\$")
_COMMENT_MARK = re.compile(r"/\*|\*/")
_OPERATOR_CHARS = frozenset("~!@#^&|`?+-*/%<>=")
# Bodies up to and including the closing quote (possessive: a body never gives a quote back).
_PLAIN_BODY = re.compile(r"[^']*+(?:''[^']*+)*+'")
_ESCAPE_BODY = re.compile(r"[^'\\]*+(?:(?:\\[\s\S]|'')[^'\\]*+)*+'")
_BIT_BODY = re.compile(r"[^']*+'")
_IDENT_BODY = re.compile(r'[^"]*+(?:""[^"]*+)*+"')
# scan.l's quotecontinue: whitespace holding a newline (line comments allowed), then a quote.
_CONTINUE = re.compile(r"(?:[ \t\f\v]|--[^\n\r]*+)*+[\n\r](?:[ \t\n\r\f\v]++|--[^\n\r]*+[\n\r])*+'")


def lex(sql: str, reading: Reading | None = None) -> Lexed:
    return _Lexer(sql, reading or Reading()).run()


class _Lexer:
    def __init__(self, sql: str, reading: Reading) -> None:
        self.sql = sql
        self.reading = reading
        self.tokens: list[Token] = []
        self.backslash_in_string = False
        self.unicode_space = False
        unicode = reading.unicode_spaces
        self.space = _SPACE_OR_UNICODE if unicode else _SPACE
        self.word = _WORD_NO_UNICODE_SPACE if unicode else _WORD

    def run(self) -> Lexed:
        sql, pos = self.sql, 0
        while pos < len(sql):
            pos = self._next(pos)
        return Lexed(self.tokens, self.backslash_in_string, self.unicode_space)

    def _add(self, kind: TokenType, start: int, end: int) -> int:
        self.tokens.append(Token(kind, self.sql[start:end]))
        return end

    def _next(self, pos: int) -> int:  # noqa: C901 - one branch per scan.l start condition
        sql = self.sql
        ch, pair = sql[pos], sql[pos : pos + 2]
        if match := self.space.match(sql, pos):
            return match.end()
        if pair == "--":
            return _line_end(sql, pos)
        if pair == "/*":
            return self._block_comment(pos)
        if ch == "'":
            body = _ESCAPE_BODY if self.reading.backslash_strings else _PLAIN_BODY
            return self._string(pos, pos + 1, body, plain=True)
        if ch == '"':
            return self._quoted(pos, pos + 1)
        if ch in "eE" and sql[pos + 1 : pos + 2] == "'":
            return self._string(pos, pos + 2, _ESCAPE_BODY, plain=False)
        if ch in "bBxX" and sql[pos + 1 : pos + 2] == "'":
            return self._string(pos, pos + 2, _BIT_BODY, plain=False)
        if ch in "nN" and sql[pos + 1 : pos + 2] == "'":  # national: an ordinary string after the N
            body = _ESCAPE_BODY if self.reading.backslash_strings else _PLAIN_BODY
            return self._string(pos, pos + 2, body, plain=True)
        if ch in "uU" and sql[pos + 1 : pos + 3] == "&'":
            return self._string(pos, pos + 3, _PLAIN_BODY, plain=False)
        if ch in "uU" and sql[pos + 1 : pos + 3] == '&"':
            return self._quoted(pos, pos + 3)
        if ch == "$":
            return self._dollar(pos)
        if match := self.word.match(sql, pos):
            self.unicode_space = self.unicode_space or bool(_UNICODE_SPACE.search(match.group()))
            return self._add(TokenType.WORD, pos, match.end())
        if match := _NUMBER.match(sql, pos):
            return self._add(TokenType.NUMBER, pos, match.end())
        if ch in _OPERATOR_CHARS:
            end = pos + 1
            # An operator stops where a comment starts (scan.l truncates it there).
            while end < len(sql) and sql[end] in _OPERATOR_CHARS and sql[end : end + 2] not in ("--", "/*"):
                end += 1
            return self._add(TokenType.OPERATOR, pos, end)
        if ch == "\x00":
            raise LexError("the text holds a NUL character")
        return self._add(TokenType.PUNCT, pos, pos + 1)

    def _block_comment(self, pos: int) -> int:
        depth, at = 1, pos + 2
        while depth:
            mark = _COMMENT_MARK.search(self.sql, at)
            if mark is None:
                raise LexError("a /* comment is not closed")
            depth += 1 if mark.group() == "/*" else -1
            at = mark.end()
        return at

    def _string(self, start: int, body_start: int, body: re.Pattern[str], *, plain: bool) -> int:
        at = body_start
        while True:
            match = body.match(self.sql, at)
            if match is None:
                raise LexError("a quoted string is not closed")
            if plain and "\\" in match.group():
                self.backslash_in_string = True
            again = _CONTINUE.match(self.sql, match.end())
            if again is None:
                return self._add(TokenType.STRING, start, match.end())
            at = again.end()  # the same string goes on after a newline, in the same state

    def _quoted(self, start: int, body_start: int) -> int:
        match = _IDENT_BODY.match(self.sql, body_start)
        if match is None:
            raise LexError('a quoted identifier is not closed (")')
        return self._add(TokenType.QUOTED, start, match.end())

    def _dollar(self, pos: int) -> int:
        if match := _PARAM.match(self.sql, pos):
            return self._add(TokenType.PARAM, pos, match.end())
        if match := _DOLLAR.match(self.sql, pos):
            end = self.sql.find(match.group(), match.end())
            if end < 0:
                raise LexError(f"a dollar-quoted string is not closed ({match.group()})")
            return self._add(TokenType.STRING, pos, end + len(match.group()))
        return self._add(TokenType.PUNCT, pos, pos + 1)


def _line_end(sql: str, pos: int) -> int:
    ends = [at for at in (sql.find("\n", pos), sql.find("\r", pos)) if at >= 0]
    return min(ends) if ends else len(sql)
