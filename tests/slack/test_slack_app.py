"""How the Bolt app is mounted and served: HTTP mode, Socket Mode, the schema, and how fast
Slack gets its acknowledgement when many people click at once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from service.approvals import get_approval
from store.tables import Base
from tests.conftest import make_settings
from tests.fake_slack import card_message, wait_until
from tests.flow import pending_card


def _app_for(tmp_path: Path, **slack: str):  # type: ignore[no-untyped-def]
    from api.app import create_app
    from hitl.wiring import build_runtime

    rt = build_runtime(make_settings(tmp_path, **slack))
    return create_app(rt), rt


def _routes(app) -> set[str]:  # type: ignore[no-untyped-def]
    return {getattr(r, "path", "") for r in app.routes}


def test_http_mode_mounts_slack_events(tmp_path: Path) -> None:
    app, rt = _app_for(tmp_path, slack_bot_token="xoxb-1", slack_signing_secret="s")
    assert "/slack/events" in _routes(app)
    assert getattr(app.state, "slack_lifespan", None) is None
    assert app.state.slack_bolt.client.base_url == "https://slack.com/api/"
    rt.close()


def test_socket_mode_holds_a_connection_for_the_app_lifetime(tmp_path: Path) -> None:
    app, rt = _app_for(tmp_path, slack_bot_token="xoxb-1", slack_app_token="xapp-1",
                       slack_api_url="http://127.0.0.1:9/api/")
    # No signing secret: no HTTP endpoint to forge requests against; Socket Mode only.
    assert "/slack/events" not in _routes(app)
    assert callable(app.state.slack_lifespan)
    assert app.state.slack_bolt.client.base_url == "http://127.0.0.1:9/api/"
    rt.close()


def test_slack_off_mounts_nothing(tmp_path: Path) -> None:
    app, rt = _app_for(tmp_path)
    assert "/slack/events" not in _routes(app)
    rt.close()


def test_migration_0002_matches_the_tables(rt) -> None:  # type: ignore[no-untyped-def]
    with rt.db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diff if "slack" in repr(d)] == []


def test_the_bots_identity_is_asked_of_slack_once(client, worker, rt, fake_slack,  # type: ignore[no-untyped-def]
                                                 slack) -> None:
    """Bolt's own authorization asks auth.test on the first request, and again for every
    request that arrives before the answer: a burst of clicks after a start made one call
    each. Ours asks at startup, once, and every request after shares the answer."""
    card = pending_card(client, worker)
    message = card_message(rt, fake_slack, card["approval_id"])
    fake_slack.wait_for("auth.test")  # asked at startup, before any request came
    barrier = threading.Barrier(10)

    def click() -> None:
        barrier.wait()
        assert slack.click(message, "Approve", "U0REP0001").status_code == 200

    threads = [threading.Thread(target=click) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_until(lambda: get_approval(rt, card["approval_id"])["status"] == "approved")
    assert len(fake_slack.calls("auth.test")) == 1


def test_20_concurrent_clicks_are_all_answered_and_approve_once(  # type: ignore[no-untyped-def]
        client, worker, rt, fake_slack, slack, smtp_sink) -> None:
    """Twenty clicks at once all get their 200; one approval, one email. How fast they are
    answered is a figure of the bench (`hitl bench`: slack_ack_ms_p99), not asserted here."""
    card = pending_card(client, worker)
    message = card_message(rt, fake_slack, card["approval_id"])
    # Warm up once (first-request costs), as a running server would be.
    slack.event({"type": "app_home_opened", "user": "U0SUP0001", "tab": "home"})
    fake_slack.wait_for("views.publish")

    clicks = 20
    barrier = threading.Barrier(clicks)
    statuses: list[int] = []
    lock = threading.Lock()

    def click() -> None:
        barrier.wait()
        status = slack.click(message, "Approve", "U0REP0001").status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=click) for _ in range(clicks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * clicks

    wait_until(lambda: get_approval(rt, card["approval_id"])["status"] == "approved")
    fake_slack.wait_for("chat.postEphemeral", clicks - 1)  # 19 "already approved by you"
    worker.run_until_idle()
    assert len(smtp_sink.messages) == 1


def test_manifest_declares_what_the_app_uses() -> None:
    yaml = pytest.importorskip("yaml")
    manifest = yaml.safe_load((Path(__file__).parents[2] / "manifest.yml").read_text())
    settings_ = manifest["settings"]
    assert settings_["event_subscriptions"]["request_url"].endswith("/slack/events")
    assert settings_["interactivity"]["request_url"] == \
        settings_["event_subscriptions"]["request_url"]
    assert settings_["interactivity"]["is_enabled"] is True
    assert settings_["socket_mode_enabled"] is False
    assert set(settings_["event_subscriptions"]["bot_events"]) >= {
        "message.im", "message.channels", "message.groups", "app_home_opened"}
    assert set(manifest["oauth_config"]["scopes"]["bot"]) >= {
        "chat:write", "im:write", "im:history", "channels:history", "groups:history",
        "users:read"}
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
