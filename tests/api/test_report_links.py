"""Signed, expiring links to the KPI report (CONTRACT 6, "Identity"): the signature, the route
that a browser opens without a bearer header (403 once expired or altered), `hitl report
--link`, and the link in the Slack summary. The clock is injected (FrozenClock at T0)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from config.clock import FrozenClock
from service.errors import Forbidden
from service.report_links import (
    ALTERED,
    EXPIRED,
    KPI_REPORT_PATH,
    NoLinkSecret,
    link_secret,
    signed_url,
    verify,
)
from tests.conftest import T0, TOKEN, make_settings
from tests.fake_slack import FakeSlack


def _parts(url: str) -> tuple[str, str, str]:
    """(path, sig, exp) of a signed link."""
    split = urlsplit(url)
    query = parse_qs(split.query)
    return split.path, query["sig"][0], query["exp"][0]


def _forbidden(settings: Any, path: str, sig: str | None, exp: str | None, now: Any) -> str:
    with pytest.raises(Forbidden) as caught:
        verify(settings, path, sig, exp, now)
    assert caught.value.status == 403
    return caught.value.message


# -- the signature ------------------------------------------------------------------------------

def test_a_link_opens_until_its_expiry_and_not_a_second_after(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, public_url="https://hitl.example.com/")
    url, expires = signed_url(settings, T0, hours=2)
    assert url.startswith("https://hitl.example.com/v1/reports/kpi?sig=")
    assert expires == T0 + timedelta(hours=2)
    path, sig, exp = _parts(url)
    assert path == KPI_REPORT_PATH and int(exp) == int(expires.timestamp())
    verify(settings, path, sig, exp, T0)
    verify(settings, path, sig, exp, expires - timedelta(seconds=1))
    assert _forbidden(settings, path, sig, exp, expires) == EXPIRED
    assert _forbidden(settings, path, sig, exp, expires + timedelta(days=30)) == EXPIRED


def test_an_altered_link_is_refused_as_altered_never_as_expired(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    path, sig, exp = _parts(signed_url(settings, T0, hours=1)[0])
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    later = str(int(exp) + 86_400)
    for bad_sig, bad_exp, bad_path in [
        (flipped, exp, path),  # one character of the signature
        (sig, later, path),  # the expiry pushed out a day
        (sig, exp, "/v1/reports/eval"),  # the signature reused for another path
        (sig.upper(), exp, path),
        (sig + "00", exp, path),
        ("", exp, path), (None, exp, path), (sig, None, path), (sig, "", path),
        (sig, "-" + exp, path), (sig, " " + exp, path), (sig, "１２３", path),  # full-width
        (sig, "9" * 13, path), ("é" * 64, exp, path), ("a" * 10_000, exp, path),
    ]:
        # Even long after the expiry the answer names the alteration.
        message = _forbidden(settings, bad_path, bad_sig, bad_exp, T0 + timedelta(days=9))
        assert message == ALTERED, (bad_sig, bad_exp, bad_path)


def test_the_secret_is_the_link_secret_else_derived_from_the_service_token(
        tmp_path: Path) -> None:
    derived = make_settings(tmp_path, link_secret=None, api_token="token-one")
    explicit = make_settings(tmp_path, link_secret="link-secret", api_token="token-one")
    rotated = make_settings(tmp_path, link_secret=None, api_token="token-two")
    assert link_secret(explicit) == b"link-secret"
    assert link_secret(derived) not in (b"token-one", b"link-secret")
    url = signed_url(derived, T0)[0]
    assert "token-one" not in url
    path, sig, exp = _parts(url)
    verify(derived, path, sig, exp, T0)
    assert _forbidden(explicit, path, sig, exp, T0) == ALTERED
    # A new service token voids the links signed with a secret derived from the old one.
    assert _forbidden(rotated, path, sig, exp, T0) == ALTERED
    # The link secret outlives a token rotation.
    path, sig, exp = _parts(signed_url(explicit, T0)[0])
    verify(make_settings(tmp_path, link_secret="link-secret", api_token="token-two"),
           path, sig, exp, T0)


def test_no_secret_no_link_and_every_link_refused(tmp_path: Path) -> None:
    bare = make_settings(tmp_path, link_secret=None, api_token=None)
    with pytest.raises(NoLinkSecret, match="HITL_LINK_SECRET"):
        signed_url(bare, T0)
    path, sig, exp = _parts(signed_url(make_settings(tmp_path), T0)[0])
    assert _forbidden(bare, path, sig, exp, T0) == ALTERED


# -- the route ------------------------------------------------------------------------------------

@pytest.fixture
def browser(rt: Any) -> Iterator[Any]:
    """A client with no bearer header (as a browser), the runtime's KPI report published."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from reports.kpi.build import build_kpi_report
    from reports.render import render_kpi_html, render_kpi_markdown
    from reports.store import publish, reports_root

    run = build_kpi_report(rt, days=None, weeks=4)
    publish(reports_root(rt.settings), "kpi", run, render_kpi_html(run), render_kpi_markdown(run))
    with TestClient(create_app(rt)) as client:
        yield client


def _local(url: str) -> str:
    split = urlsplit(url)
    return f"{split.path}?{split.query}"


def test_a_browser_opens_the_signed_link_without_a_bearer_header(
        rt: Any, clock: FrozenClock, browser: Any) -> None:
    url, _ = signed_url(rt.settings, clock.now(), hours=1)
    page = browser.get(_local(url))
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["x-report-run-id"].startswith("kpi-")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"  # the link never leaks onward
    assert "<html" in page.text.lower()
    data = browser.get(_local(url) + "&format=json")
    assert data.status_code == 200 and "overall" in data.json()


def test_the_link_is_refused_after_expiry_and_when_altered(
        rt: Any, clock: FrozenClock, browser: Any) -> None:
    url, _ = signed_url(rt.settings, clock.now(), hours=1)
    assert browser.get(_local(url)).status_code == 200
    path, sig, exp = _parts(url)
    flipped = ("0" if sig[-1] != "0" else "1")
    for tampered in [f"{path}?sig={sig[:-1]}{flipped}&exp={exp}",
                     f"{path}?sig={sig}&exp={int(exp) + 3600}",
                     f"{path}?sig={sig}", f"{path}?exp={exp}",
                     f"{path}?sig={'f' * 500}&exp=1e9"]:
        refused = browser.get(tampered)
        assert refused.status_code == 403, tampered
        assert refused.json() == {"detail": ALTERED}
    clock.advance(minutes=59, seconds=59)
    assert browser.get(_local(url)).status_code == 200
    clock.advance(seconds=1)
    expired = browser.get(_local(url))
    assert expired.status_code == 403
    assert expired.json() == {"detail": EXPIRED}


def test_without_a_link_the_report_still_needs_the_bearer_token(
        rt: Any, clock: FrozenClock, browser: Any) -> None:
    assert browser.get(KPI_REPORT_PATH).status_code == 401
    assert browser.get(KPI_REPORT_PATH, headers={"Authorization": "Bearer nope"}
                       ).status_code == 401
    assert browser.get(KPI_REPORT_PATH, headers={"Authorization": f"Bearer {TOKEN}"}
                       ).status_code == 200
    # A KPI link opens the KPI report only: the eval report keeps its bearer token.
    _, sig, exp = _parts(signed_url(rt.settings, clock.now(), hours=1)[0])
    assert browser.get(f"/v1/reports/eval?sig={sig}&exp={exp}").status_code == 401


# -- `hitl report --link` and the Slack summary -----------------------------------------------------

@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HITL_DATABASE_URL", f"sqlite:///{tmp_path / 'var' / 'hitl.db'}")
    monkeypatch.setenv("HITL_CHROMA_PATH", str(tmp_path / "chroma"))
    monkeypatch.setenv("HITL_EMBEDDINGS", "local")
    monkeypatch.setenv("HITL_API_TOKEN", "cli-token")
    monkeypatch.setenv("HITL_PUBLIC_URL", "https://hitl.example.com")
    for name in ("HITL_LINK_SECRET", "OPENAI_API_KEY", "OPENAI_BASE_URL", "SLACK_BOT_TOKEN",
                 "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "HITL_SMTP_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _check_cli_link(url: str, hours: float, before: float, after: float) -> None:
    from datetime import UTC, datetime

    from config.settings import load_settings

    assert url.startswith("https://hitl.example.com/v1/reports/kpi?sig=")
    path, sig, exp = _parts(url)
    assert before + hours * 3600 - 1 <= int(exp) <= after + hours * 3600
    settings = load_settings()
    verify(settings, path, sig, exp, datetime.fromtimestamp(before, UTC))
    assert _forbidden(settings, path, sig, exp, datetime.fromtimestamp(int(exp), UTC)) == EXPIRED


def test_report_link_prints_a_signed_url_and_builds_nothing(env: Path) -> None:
    import time

    from hitl.cli import app

    before = time.time()
    result = CliRunner().invoke(app, ["report", "--link", "--hours", "2"])
    after = time.time()
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert "\n" not in url  # the link alone on stdout, for scripts
    _check_cli_link(url, 2, before, after)
    assert "valid until" in result.stderr
    assert "no KPI report is published yet" in result.stderr
    assert not (env / "var" / "reports").exists()  # nothing was built


def test_report_link_needs_a_secret(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hitl.cli import app

    monkeypatch.delenv("HITL_API_TOKEN")
    result = CliRunner().invoke(app, ["report", "--link"])
    assert result.exit_code == 2
    assert "HITL_LINK_SECRET" in result.stderr and result.stdout == ""


def test_the_slack_summary_carries_the_signed_link(env: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from hitl.cli import app

    with FakeSlack() as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
        monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
        monkeypatch.setenv("SLACK_API_URL", slack.url + "/")
        before = time.time()
        result = CliRunner().invoke(app, ["report", "--no-style-examples", "--hours", "24",
                                          "--slack-channel", "C0MANAGERS"])
        after = time.time()
        assert result.exit_code == 0, result.output
        [call] = slack.calls("chat.postMessage")
    blocks = call.params["blocks"]
    blocks = blocks if isinstance(blocks, list) else json.loads(blocks)
    [text] = [b["text"]["text"] for b in blocks
              if b.get("text") and "Open the full report" in b["text"]["text"]]
    # mrkdwn: `<url|label>` with `&` escaped as Slack requires (Slack unescapes it).
    assert text.startswith("<https://hitl.example.com/v1/reports/kpi?sig=")
    url = text[1:text.index("|")].replace("&amp;", "&")
    assert "&amp;exp=" in text and "&exp=" not in text
    _check_cli_link(url, 24, before, after)


def test_no_secret_the_summary_goes_without_a_link(tmp_path: Path) -> None:
    from reports.slack_post import post_summary

    with FakeSlack() as slack:
        settings = make_settings(tmp_path, slack_bot_token="xoxb-test",
                                 slack_signing_secret="s", slack_api_url=slack.url + "/")
        post_summary(settings, "C0MANAGERS", "# Report\n\n- one", report_path="/tmp/r.html")
        [call] = slack.calls("chat.postMessage")
    blocks = call.params["blocks"]
    blocks = blocks if isinstance(blocks, list) else json.loads(blocks)
    assert "Open the full report" not in json.dumps(blocks)
    assert "/tmp/r.html" in json.dumps(blocks)
