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
import functools
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
    at: int = 0  # where it starts in the text

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


_UNICODE_SPACE = re.compile(r"[^\S\x00-\x7f]")  # whitespace, not ASCII
_PLAIN_BODY = r"[^']*+(?:''[^']*+)*+'"  # up to the closing quote; '' is a quote
_ESCAPE_BODY = r"[^'\\]*+(?:(?:\\[\s\S]|'')[^'\\]*+)*+'"  # \x escapes too
_BIT_BODY = r"[^']*+'"
# scan.l's quotecontinue: whitespace holding a newline (line comments allowed), then a quote.
_CONTINUE = r"(?:[ \t\f\v]|--[^\n\r]*+)*+[\n\r](?:[ \t\n\r\f\v]++|--[^\n\r]*+[\n\r])*+'"
_TAG = r"(?:[A-Za-z_\x80-\U0010ffff][A-Za-z_0-9\x80-\U0010ffff]*)?"
_KINDS = {
    "estr": TokenType.STRING, "bstr": TokenType.STRING, "nstr": TokenType.STRING, "ustr": TokenType.STRING,
    "str": TokenType.STRING, "dollar": TokenType.STRING, "uident": TokenType.QUOTED, "ident": TokenType.QUOTED,
    "param": TokenType.PARAM, "word": TokenType.WORD, "number": TokenType.NUMBER, "op": TokenType.OPERATOR,
    "other": TokenType.PUNCT,
}  # fmt: skip


def _string(opening: str, body: str) -> str:
    """A string from its opening through every continuation of it, in the same state."""
    return f"{opening}{body}(?:{_CONTINUE}{body})*+"


@functools.cache
def _pattern(reading: Reading) -> re.Pattern[str]:
    """One token (or space, or comment start) at a time, first alternative first, as scan.l's
    rules resolve: string prefixes before words, comments before operators."""
    plain = _ESCAPE_BODY if reading.backslash_strings else _PLAIN_BODY
    if reading.unicode_spaces:
        space = r"(?:[ \t\n\r\f\v]|[^\S\x00-\x7f])+"
        word = r"(?![^\S\x00-\x7f])[A-Za-z_\x80-\U0010ffff](?:(?![^\S\x00-\x7f])[A-Za-z_0-9$\x80-\U0010ffff])*"
    else:
        space = r"[ \t\n\r\f\v]+"
        word = r"[A-Za-z_\x80-\U0010ffff][A-Za-z_0-9$\x80-\U0010ffff]*"
    # Ordered for speed (the common tokens first); where two could start at the same place the
    # earlier one is scan.l's choice: a word is no string prefix (E'', B'', X'', N'', U&''), an
    # operator stops where a comment starts, a $1 parameter is no dollar quote.
    alternatives = {
        "space": space,
        "word": rf"(?![eEbBxXnN]'|[uU]&['\"]){word}",
        "op": r"(?:(?!--|/\*)[~!@#^&|`?+\-*/%<>=])+",
        "number": r"0[xXoObB][0-9A-Fa-f_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?",
        "str": _string("'", plain),
        "ident": r'"[^"]*+(?:""[^"]*+)*+"',
        "param": r"\$\d+",
        "dollar": rf"\$(?P<tag>{_TAG})\$[\s\S]*?\$(?P=tag)\$",
        "unclosed_dollar": rf"\${_TAG}\$",
        "line": r"--[^\n\r]*+",
        "block": r"/\*",
        "estr": _string("[eE]'", _ESCAPE_BODY),
        "bstr": _string("[bBxX]'", _BIT_BODY),
        "nstr": _string("[nN]'", plain),
        "ustr": _string("[uU]&'", _PLAIN_BODY),
        "uident": r'[uU]&"[^"]*+(?:""[^"]*+)*+"',
        "unclosed_prefixed": r"[eEbBxXnN]'|[uU]&['\"]",  # the string after a prefix must close
        "other": r"[\s\S]",
    }
    return re.compile("|".join(f"(?P<{name}>{rx})" for name, rx in alternatives.items()))


_COMMENT_MARK = re.compile(r"/\*|\*/")
_UNCLOSED = {
    "'": "a quoted string is not closed",
    '"': 'a quoted identifier is not closed (")',
    "\x00": "the text holds a NUL character",
}


def lex(sql: str, reading: Reading | None = None) -> Lexed:
    pattern = _pattern(reading or Reading())
    tokens: list[Token] = []
    append = tokens.append
    backslash = unicode_space = False
    pos: int | None = 0
    while pos is not None:
        start, pos = pos, None
        for match in pattern.finditer(sql, start):
            kind = match.lastgroup
            if kind == "space" or kind == "line":
                continue
            token_type = _KINDS.get(kind or "")
            if token_type is not None:
                text = match.group()
                append(Token(token_type, text, match.start()))
                if kind == "word":
                    unicode_space = unicode_space or (not text.isascii() and bool(_UNICODE_SPACE.search(text)))
                elif kind == "str" or kind == "nstr":
                    backslash = backslash or "\\" in text
                elif kind == "other" and text in _UNCLOSED:
                    raise LexError(_UNCLOSED[text])
            elif kind == "block":  # nesting is beyond a regular expression: go on after the comment
                pos = _block_comment(sql, match.start())
                break
            else:  # an opening whose string never closes
                what = "dollar-quoted string" if kind == "unclosed_dollar" else "quoted string"
                raise LexError(f"a {what} is not closed ({match.group()})")
    return Lexed(tokens, backslash, unicode_space)


def _block_comment(sql: str, start: int) -> int:
    depth, at = 1, start + 2
    while depth:
        mark = _COMMENT_MARK.search(sql, at)
        if mark is None:
            raise LexError("a /* comment is not closed")
        depth += 1 if mark.group() == "/*" else -1
        at = mark.end()
    return at
