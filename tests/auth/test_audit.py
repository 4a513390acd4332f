"""Authentication events as structured log records, and the filter that keeps secrets out of logs."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import pytest

from auth.audit import REDACTED, AuthEvent, SecretRedactingFilter, log_auth_event, redact_secrets

FIELDS = ("outcome", "method", "reason", "subject", "tenant", "key_id", "peer")

BASIC = "Basic " + base64.b64encode(b"alice:correct horse battery staple").decode()
SHORT_BASIC = "Basic " + base64.b64encode(b"a:b").decode()
JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSIsInRlbmFudF9pZCI6ImFjbWUifQ.c2lnbmF0dXJlLWJ5dGVz"
GATEWAY_TOKEN = "fgt1.local.eyJzdWIiOiJhbGljZSJ9.mK3n-Wq_9sQ"
API_KEY = "fgk_0123456789ab_Zm9vYmFyYmF6cXV4cXV1eHh5enp5MTIzNDU2Nzg5MA"


@pytest.fixture
def redacting(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog whose handler carries the filter, as a production handler would."""
    redactor = SecretRedactingFilter()
    caplog.handler.addFilter(redactor)
    caplog.set_level(logging.DEBUG)
    yield caplog
    caplog.handler.removeFilter(redactor)


def test_success_event_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="auth.audit")
    event = AuthEvent("success", "jwt", subject="alice", tenant="acme", peer="ipv4:127.0.0.1:5000")
    log_auth_event(logging.getLogger("auth.audit"), event)
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert record.getMessage() == "auth success (jwt)"
    assert {name: getattr(record, name) for name in FIELDS} == {
        "outcome": "success",
        "method": "jwt",
        "reason": None,
        "subject": "alice",
        "tenant": "acme",
        "key_id": None,
        "peer": "ipv4:127.0.0.1:5000",
    }


def test_failure_event_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="auth.audit")
    event = AuthEvent("failure", "api_key", reason="api_key_expired", key_id="0123456789ab", peer="ipv6:[::1]:1")
    log_auth_event(logging.getLogger("auth.audit"), event)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "auth failure (api_key): api_key_expired"
    assert tuple(vars(record)[name] for name in ("outcome", "reason", "key_id", "subject")) == (
        "failure",
        "api_key_expired",
        "0123456789ab",
        None,
    )


def test_client_supplied_fields_cannot_forge_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="auth.audit")
    event = AuthEvent("failure", "basic", reason="bad_credentials", subject="eve\nauth success (basic)" + "x" * 500)
    log_auth_event(logging.getLogger("auth.audit"), event)
    (record,) = caplog.records
    subject = vars(record)["subject"]
    assert "\n" not in subject and len(subject) <= 256
    assert "eve" not in record.getMessage()


SECRETS = {
    "authorization_header": ("authorization: Bearer abc123", "abc123"),
    "authorization_header_dict": ("{'authorization': ['Basic Zm9vOmJhcg==']}", "Zm9vOmJhcg"),
    "authorization_bytes_tuple": ("[(b'authorization', b'Bearer s3cr3t-value')]", "s3cr3t-value"),
    "proxy_authorization": ("Proxy-Authorization: Negotiate YIIHfwYGKwYBBQUCoIIH", "YIIHfwYGKwYBBQUCoIIH"),
    "basic": (f"login with {BASIC}", BASIC[6:]),
    "short_basic": (f"login with {SHORT_BASIC}", SHORT_BASIC[6:]),
    "bearer_gateway_token": (f"Bearer {GATEWAY_TOKEN}", GATEWAY_TOKEN.split(".", 1)[1]),
    "bare_gateway_token": (f"token={GATEWAY_TOKEN} failed", "mK3n-Wq_9sQ"),
    "gateway_token_in_text": (f"saw {GATEWAY_TOKEN} once", "mK3n-Wq_9sQ"),
    "bare_jwt": (f"jwt {JWT} refused", JWT.split(".")[1]),
    "jwt_signature": (f"jwt {JWT} refused", JWT.split(".")[2]),
    "api_key": (f"key {API_KEY} refused", API_KEY[17:]),
    "api_key_malformed": ("key fgk_whatever-this-is refused", "whatever-this-is"),
    "password_kv": ("dsn host=db password=hunter2 user=x", "hunter2"),
    "password_json": ('{"user": "x", "password": "hunter2"}', "hunter2"),
    "client_secret": ("client_secret=abc.def-123", "abc.def-123"),
    "url_credentials": ("postgresql://alice:hunter2@db:5432/app", "hunter2"),
}


@pytest.mark.parametrize(("text", "secret"), SECRETS.values(), ids=SECRETS.keys())
def test_redact_secrets(text: str, secret: str) -> None:
    clean = redact_secrets(text)
    assert secret not in clean
    assert REDACTED in clean


def test_redaction_keeps_what_is_useful() -> None:
    assert redact_secrets(f"key {API_KEY}") == f"key fgk_0123456789ab_{REDACTED}"  # the id stays
    assert redact_secrets("postgresql://alice:pw@db/app") == f"postgresql://alice:{REDACTED}@db/app"
    for prose in [
        "bearer token is malformed; log in again",
        "Basic authentication failed",
        "reason=token_expired method=api_key tenant=acme",
        "auth failure (basic): bad_credentials",
    ]:
        assert redact_secrets(prose) == prose


@pytest.mark.parametrize(("text", "secret"), SECRETS.values(), ids=SECRETS.keys())
def test_filter_scrubs_messages_args_and_extras(redacting: pytest.LogCaptureFixture, text: str, secret: str) -> None:
    log = logging.getLogger("flight_gateway.some.module")  # any logger: the filter sits on the handler
    log.info(text)
    log.warning("request failed: %s", text)
    log.error("request failed: %(detail)s", {"detail": text})
    log.info("headers seen", extra={"headers": text})
    assert len(redacting.records) == 4
    for record in redacting.records:
        assert secret not in record.getMessage()
        assert secret not in str(record.args)
        assert secret not in str(getattr(record, "headers", ""))
    assert secret not in redacting.text


def test_filter_scrubs_exception_text(redacting: pytest.LogCaptureFixture) -> None:
    try:
        raise ValueError(f"could not parse {JWT}")
    except ValueError:
        logging.getLogger("auth").exception("verification crashed")
    (record,) = redacting.records
    assert JWT.split(".")[2] not in (record.exc_text or "")
    assert "ValueError" in (record.exc_text or "")
    assert JWT.split(".")[2] not in redacting.text


def test_filter_keeps_clean_records_lazy(redacting: pytest.LogCaptureFixture) -> None:
    logging.getLogger("auth").info("tenant %s ran %d statements", "acme", 3)
    (record,) = redacting.records
    assert (record.msg, record.args) == ("tenant %s ran %d statements", ("acme", 3))
    assert record.getMessage() == "tenant acme ran 3 statements"


def test_filter_survives_a_record_whose_args_do_not_fit(redacting: pytest.LogCaptureFixture) -> None:
    record = logging.LogRecord("auth", logging.INFO, __file__, 1, "token=%s %s", (GATEWAY_TOKEN,), None)
    assert SecretRedactingFilter().filter(record)
    assert "mK3n-Wq_9sQ" not in str(record.msg) + str(record.args)


def test_audit_event_through_the_filter(redacting: pytest.LogCaptureFixture) -> None:
    # A client that pastes a credential into the username field must not get it logged.
    event = AuthEvent("failure", "basic", reason="bad_credentials", subject=f"Bearer {GATEWAY_TOKEN}")
    log_auth_event(logging.getLogger("auth.audit"), event)
    (record,) = redacting.records
    assert "mK3n-Wq_9sQ" not in vars(record)["subject"]
