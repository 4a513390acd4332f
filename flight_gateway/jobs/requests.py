"""The JSON bodies of the job actions (ListJobs, GetJob, CancelJob, SubmitJob, GetJobResult), checked
field by field.

A bad body is the client's mistake, so every refusal is INVALID_ARGUMENT naming the action and
the field; unknown fields are refused rather than ignored, so a typo (`"limt"`) cannot silently
return the default.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flight_gateway.errors import ErrorCode, GatewayError, error
from flight_gateway.jobs.models import Job, JobState

MAX_LIMIT = 1000
MAX_LABEL_CHARS = 128
MAX_PARAMETERS = 1000
JsonScalar = str | int | float | bool | None
DEFAULT_LIMIT = 50
_STATES = ", ".join(state.value for state in JobState)


@dataclass(frozen=True)
class ListJobsRequest:
    state: JobState | None = None
    kind: str | None = None
    since: float | None = None
    limit: int = DEFAULT_LIMIT
    # The (created_at, id) of the last job of the previous page.
    after: tuple[float, str] | None = None


def _bad(action: str, message: str) -> GatewayError:
    return error(ErrorCode.INVALID_ACTION_BODY, f"{action}: {message}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _object(action: str, body: bytes, fields: tuple[str, ...]) -> Mapping[str, Any]:
    if not body.strip():
        return {}
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except ValueError as exc:
        raise _bad(action, f"the body is not valid UTF-8 JSON ({exc})") from None
    if not isinstance(value, dict):
        raise _bad(action, f"the body must be a JSON object with the fields {', '.join(fields)}")
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise _bad(action, f"unknown field {unknown[0]!r}; the fields are {', '.join(fields)}")
    return value


def _text(action: str, body: Mapping[str, Any], field: str, max_length: int | None) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value or (max_length is not None and len(value) > max_length):
        at_most = "" if max_length is None else f" of at most {max_length} characters"
        raise _bad(action, f"{field!r} must be a non-empty string{at_most}")
    return value


def _number(action: str, body: Mapping[str, Any], field: str) -> float | None:
    value = body.get(field)
    if value is None:
        return None
    # bool is an int in Python, not a number in JSON terms.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(action, f"{field!r} must be a number (epoch seconds)")
    return float(value)


def list_jobs_request(body: bytes) -> ListJobsRequest:
    action = "ListJobs"
    fields = _object(action, body, ("state", "kind", "since", "limit", "page_token"))
    state_name = _text(action, fields, "state", 16)
    state = None
    if state_name is not None:
        try:
            state = JobState(state_name.upper())
        except ValueError:
            raise _bad(action, f"'state' must be one of {_STATES}, got {state_name!r}") from None
    limit = fields.get("limit", DEFAULT_LIMIT)
    if limit is None:
        limit = DEFAULT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise _bad(action, f"'limit' must be an integer from 1 to {MAX_LIMIT}")
    token = _text(action, fields, "page_token", 512)
    return ListJobsRequest(
        state=state,
        kind=_text(action, fields, "kind", 64),
        since=_number(action, fields, "since"),
        limit=limit,
        after=None if token is None else _decode_token(token),
    )


def job_id_request(action: str, body: bytes) -> str:
    job_id = _text(action, _object(action, body, ("job_id",)), "job_id", 128)
    if job_id is None:
        raise _bad(action, "'job_id' is required")
    return job_id


@dataclass(frozen=True)
class SubmitJobRequest:
    sql: str
    label: str | None = None
    # Values for the statement's `?` placeholders, in order (JSON scalars).
    parameters: tuple[JsonScalar, ...] = ()


def submit_job_request(body: bytes) -> SubmitJobRequest:
    action = "SubmitJob"
    fields = _object(action, body, ("sql", "label", "parameters"))
    # The statement's size limit is max_statement_bytes, checked where every statement is described.
    sql = _text(action, fields, "sql", None)
    if sql is None:
        raise _bad(action, "'sql' is required: the query to run as a detached job")
    parameters = fields.get("parameters") or []
    scalar = (str, int, float, bool, type(None))
    if (
        not isinstance(parameters, list)
        or len(parameters) > MAX_PARAMETERS
        or not all(isinstance(value, scalar) for value in parameters)
        or any(isinstance(value, float) and not math.isfinite(value) for value in parameters)
    ):
        raise _bad(
            action,
            f"'parameters' must be a list of at most {MAX_PARAMETERS} JSON strings, numbers, booleans or nulls, "
            "one per ? in the SQL",
        )
    return SubmitJobRequest(sql, _text(action, fields, "label", MAX_LABEL_CHARS), tuple(parameters))


def page_token(last: Job) -> str:
    raw = json.dumps([last.created_at, last.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created_at, job_id = json.loads(raw)
        if isinstance(created_at, int | float) and not isinstance(created_at, bool) and isinstance(job_id, str):
            return float(created_at), job_id
    except (ValueError, TypeError, binascii.Error):
        pass
    raise _bad("ListJobs", "'page_token' is not a next_page_token from an earlier ListJobs result")
