"""Drill: the model fails for two minutes (429, 500, garbage JSON and hangs in turn) while
hand-raises keep arriving; every lead still reaches a person with a fallback draft, and drafts
come from the model again once it recovers.

Real time, a real background worker, the real ChatOpenAI drafter against the local fake with
HITL_MODEL_TIMEOUT=5 and the default two retries.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import TOKEN, make_settings

OUTAGE_S = 120.0
EVERY_S = 6.0


def _lead(n: int) -> dict[str, Any]:
    return {"email": f"long{n}@long-outage{n}.io", "first_name": f"Long{n}", "last_name": "Out",
            "company": f"Long outage {n}", "title": "VP Operations",
            "domain": f"long-outage{n}.io", "country": "US", "employees": 850,
            "industry": "Software"}


@pytest.mark.timeout(900)
def test_minutes_of_model_failures_still_reach_a_person(tmp_path, smtp_sink,
                                                        content_library) -> None:
    from datetime import UTC, datetime, timedelta

    from fastapi.testclient import TestClient

    from api.app import create_app
    from bench.fake_openai import FakeOpenAI
    from hitl.wiring import build_runtime
    from service.worker import Worker

    with FakeOpenAI(hang_seconds=30) as model:
        settings = make_settings(tmp_path, smtp_url=smtp_sink.url, openai_base_url=model.url,
                                 openai_api_key="drill", model_timeout_s=5, model_max_retries=2,
                                 worker_threads=8)
        rt = build_runtime(settings, library_override=content_library)
        rt.db.upgrade()
        worker = Worker(rt)
        app = create_app(rt, worker=worker)  # the worker runs in the background, as in serve
        posted: dict[str, float] = {}
        carded: dict[str, float] = {}
        with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            model.fail("cycle", seconds=OUTAGE_S)
            started = time.monotonic()
            n = 0
            while time.monotonic() - started < OUTAGE_S + 30:  # 30 s after recovery too
                now = datetime.now(UTC)
                lead = _lead(n)
                events = [{"event_id": f"long-{n}", "type": "form_submit",
                           "occurred_at": (now - timedelta(seconds=5)).isoformat(),
                           "lead": lead, "properties": {"form": "demo"}}]
                assert client.post("/v1/events", json={"events": events}).status_code == 202
                posted[lead["email"]] = time.monotonic()
                n += 1
                deadline = time.monotonic() + EVERY_S
                while time.monotonic() < deadline:
                    for card in client.get("/v1/approvals").json():
                        carded.setdefault(card["draft"]["to"], time.monotonic())
                    time.sleep(0.25)
            deadline = time.monotonic() + 120
            while len(carded) < len(posted) and time.monotonic() < deadline:
                for card in client.get("/v1/approvals").json():
                    carded.setdefault(card["draft"]["to"], time.monotonic())
                time.sleep(0.25)
            cards = {c["draft"]["to"]: c for c in client.get("/v1/approvals").json()}
        rt.close()

    assert set(cards) == set(posted), "every lead reached a person"
    sources = [cards[email]["draft"]["source"] for email in posted]
    waits = {email: carded[email] - posted[email] for email in posted}
    during = [e for e in posted if posted[e] - started < OUTAGE_S - 20]
    after = [e for e in posted if posted[e] - started > OUTAGE_S + 5]
    assert all(cards[e]["draft"]["source"] == "fallback" for e in during)
    assert after and all(cards[e]["draft"]["source"] == "model" for e in after)
    outcomes = sorted({c.outcome for c in model.calls()})
    print(f"\n{len(posted)} leads over {OUTAGE_S:.0f} s of failures ({outcomes}): "
          f"{sources.count('fallback')} fallback, {sources.count('model')} model drafts; "
          f"signal -> card max {max(waits.values()):.1f} s, during the outage "
          f"max {max(waits[e] for e in during):.1f} s, after recovery "
          f"max {max(waits[e] for e in after):.1f} s")
