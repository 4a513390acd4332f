"""Statement text every engine refuses before it is read: NUL characters and oversized text.

PostgreSQL's wire protocol ends a string at NUL, so `SELECT 1\\x00; SET ROLE other` would run
only what precedes the NUL while the gateway classified the whole; no engine gets text with NUL.
The size limit (`max_statement_bytes`) bounds what one statement costs the gateway to read,
classify, sign into tickets and keep; a tenant may have a smaller one of its own (its limits'
`max_statement_bytes`): the smaller applies, and the refusal names which.
"""

from __future__ import annotations

from flight_gateway.errors import ErrorCode, error


def check_statement_text(
    text: str, max_bytes: int, what: str = "the SQL statement", tenant_max_bytes: int | None = None
) -> None:
    if "\x00" in text:
        raise error(
            ErrorCode.NUL_IN_STATEMENT,
            f"{what} contains a NUL character (\\x00), which databases read as the end of the text; remove it",
        )
    setting = "the gateway's max_statement_bytes"
    if tenant_max_bytes is not None and tenant_max_bytes < max_bytes:
        max_bytes, setting = tenant_max_bytes, "the tenant's limits.max_statement_bytes"
    # UTF-8 is at most 4 bytes a character: short texts need no encoding to be measured.
    if len(text) * 4 > max_bytes and (size := len(text.encode("utf-8", "surrogatepass"))) > max_bytes:
        raise error(
            ErrorCode.STATEMENT_TOO_LARGE,
            f"{what} is {size} bytes, over the limit of {max_bytes} bytes ({setting}); "
            "send a smaller statement, or bind large values as parameters",
        )
