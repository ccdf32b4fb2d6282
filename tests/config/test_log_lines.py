"""One log record, one line: a message quoting hostile text cannot forge a record of its own
(config/logs.py, the format of `hitl serve` and its workers)."""

from __future__ import annotations

import io
import logging

import pytest

from config.logs import OneLineFormatter, configure_logging

FORGED = "lead x\n2026-12-04 10:00:00,000 ERROR payments: refund sent\r\x1b[31m\u2028done"


def _formatted(record: logging.LogRecord) -> str:
    return OneLineFormatter("%(levelname)s %(name)s: %(message)s").format(record)


def test_a_message_quoting_hostile_text_stays_one_line() -> None:
    record = logging.LogRecord("service.leads", logging.INFO, __file__, 1,
                               "job %s failed: %s", ("j1", FORGED), None)
    line = _formatted(record)
    assert line == ("INFO service.leads: job j1 failed: lead x\\n2026-12-04 10:00:00,000 ERROR "
                    "payments: refund sent\\r\\x1b[31m\\u2028done")
    assert record.getMessage() == f"job j1 failed: {FORGED}"  # the record itself is untouched


def test_a_traceback_after_the_message_keeps_its_lines() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("w", logging.ERROR, __file__, 1, "failed: %s", (FORGED,),
                                   sys.exc_info())
    first, *rest = _formatted(record).split("\n")
    assert first.startswith("ERROR w: failed: lead x\\n2026")
    assert rest[0] == "Traceback (most recent call last):" and rest[-1] == "ValueError: boom"


def test_configure_logging_uses_it_for_the_root_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # as at a process's start; put back after
    monkeypatch.setattr(root, "level", root.level)
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging()
    logging.getLogger("service.test").warning("refused %s", FORGED)
    assert stream.getvalue().count("\n") == 1
    assert "WARNING service.test: refused lead x\\n2026" in stream.getvalue()


def test_no_line_holds_an_email_address_in_the_message_or_its_traceback() -> None:
    try:
        raise RuntimeError("550 recipient refused: Jane.Doe+x@Sub.Acme.co.uk")
    except RuntimeError:
        import sys

        record = logging.LogRecord(
            "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
            ("127.0.0.1:5", "DELETE", "/v1/customers/jane%40acme.com?cc=bob@corp.io", "1.1", 200),
            sys.exc_info())
    line = _formatted(record)
    assert "acme" not in line.lower() and "bob" not in line
    assert '"DELETE /v1/customers/‹email›?cc=‹email› HTTP/1.1" 200' in line
    assert line.endswith("RuntimeError: 550 recipient refused: ‹email›")
    # What has no address is left alone, and the record itself is untouched.
    assert _formatted(logging.LogRecord("w", logging.INFO, __file__, 1, "a@b and 50%", (), None)
                      ) == "INFO w: a@b and 50%"
    assert "jane%40acme.com" in record.getMessage()


def test_configure_logging_leaves_out_httpx_request_lines_not_its_warnings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    monkeypatch.setattr(logging.getLogger("httpx"), "level", logging.NOTSET)
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging()
    # A CRM lookup's URL holds the lead's address: httpx logs every request, URL and all, at INFO.
    with httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200))) as client:
        client.get("https://api.hubapi.com/crm/v3/objects/contacts/jane@acme.com")
    logging.getLogger("httpx").warning("pool exhausted")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].endswith("WARNING httpx: pool exhausted"), lines


def test_redaction_stays_linear_on_a_line_a_client_wrote() -> None:
    """A request line is the client's to write; the redaction once backtracked on it (a 64 KB
    run of letters and `%40` took 16 s on the event loop). Linear, these take milliseconds; a
    quadratic pattern would take minutes and meet the suite's per-test timeout."""
    from config.logs import redact_email_addresses

    for line in ("a" * 200_000 + "%40", "a@" * 100_000, "a@b." * 50_000,
                 "x" * 200_000 + "@" + "y" * 200_000):
        assert redact_email_addresses(line) == line  # nothing in them is an address
