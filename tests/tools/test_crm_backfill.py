"""HubSpot backfill (issue 16 item 6) against a respx fake of the contacts list API: pages
followed by their `after` cursors, rate limits waited out (injected sleep, no real waiting),
contacts mapped by the shipped mapping into leads and events through the ingestion path,
nothing stored twice on a second run, and `hitl crm backfill hubspot` as a person runs it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import select
from typer.testing import CliRunner

from service.crm_backfill import backfill_hubspot, contact_records
from store.tables import Event, Lead
from tests.conftest import T0, make_settings
from tools.crm.hubspot_backfill import HubSpotContactPages
from tools.crm.writer import CrmError

HS = "https://hubspot.test"
LIST = f"{HS}/crm/v3/objects/contacts"


def contact(n: int, **props: Any) -> dict[str, Any]:
    base = {"email": f"person{n}@firm{n}.example", "firstname": f"P{n}", "company": f"Firm {n}",
            "country": "United States", "numemployees": "250-500",
            "lastmodifieddate": (T0 - timedelta(days=n)).isoformat()}
    return {"id": str(1000 + n), "properties": {**base, **props},
            "updatedAt": (T0 - timedelta(days=n)).isoformat()}


PAGES = {
    None: ([contact(1, recent_conversion_event_name="Request a demo",
                    recent_conversion_date=(T0 - timedelta(days=40)).isoformat()),
            contact(2)], "c2"),
    "c2": ([contact(3, hs_email_optout="true"), contact(4, email="")], "c3"),
    "c3": ([contact(5, engagements_last_meeting_booked=str(
        int((T0 - timedelta(days=3)).timestamp() * 1000)))], None),
}


def _serve(request: httpx.Request) -> httpx.Response:
    results, after = PAGES[request.url.params.get("after")]
    body: dict[str, Any] = {"results": results}
    if after:
        body["paging"] = {"next": {"after": after, "link": f"{LIST}?after={after}"}}
    return httpx.Response(200, json=body)


@pytest.fixture
def hubspot() -> Any:
    with respx.mock(assert_all_called=False) as router:
        router.get(LIST, name="list").mock(side_effect=_serve)
        yield router


def test_pages_follow_the_after_cursor_to_the_last(hubspot) -> None:
    reader = HubSpotContactPages(HS, "tok", client=httpx.Client())
    pages = list(reader.pages(["email", "company"], limit=2))
    assert [p.after for p in pages] == [None, "c2", "c3"]
    assert [p.next_after for p in pages] == ["c2", "c3", None]
    first = hubspot["list"].calls[0].request
    assert first.url.params["limit"] == "2" and first.url.params["properties"] == "email,company"
    assert "after" not in first.url.params
    assert first.headers["Authorization"] == "Bearer tok"


def test_a_rate_limit_is_waited_out_then_a_lasting_outage_stops_the_run(hubspot) -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "3"})])
    hubspot["list"].side_effect = lambda request: next(answers, None) or _serve(request)
    waits: list[float] = []
    reader = HubSpotContactPages(HS, "tok", client=httpx.Client(), sleep=waits.append)
    assert len(reader.page(["email"]).contacts) == 2
    assert waits == [3.0]

    hubspot["list"].side_effect = None
    hubspot["list"].respond(503)
    with pytest.raises(CrmError) as caught:
        HubSpotContactPages(HS, "tok", client=httpx.Client(), sleep=waits.append,
                            attempts=3).page(["email"])
    assert caught.value.transient and waits[1:] == [10.0, 20.0]


def test_contacts_become_leads_and_events_by_the_mapping(rt) -> None:
    lead, events = contact_records(rt.crm_mapping, PAGES[None][0][0])
    assert lead is not None and lead.email == "person1@firm1.example"
    assert lead.country == "US" and lead.employees == 250
    (demo,) = events
    assert demo.type == "form_submit" and demo.properties["form"] == "demo"
    assert demo.occurred_at == T0 - timedelta(days=40)
    assert demo.event_id == f"hubspot-backfill:1001:recent_conversion_event_name:" \
                            f"{int((T0 - timedelta(days=40)).timestamp() * 1000)}"
    assert contact_records(rt.crm_mapping, contact(4, email=""))[0] is None


def test_backfill_stores_every_page_through_ingestion_once(rt, hubspot) -> None:
    reader = HubSpotContactPages(HS, "tok", client=httpx.Client())
    result = backfill_hubspot(rt, pages=reader, page_size=2)
    assert (result.pages, result.contacts, result.leads, result.skipped) == (3, 5, 4, 1)
    assert result.next_after is None and result.accepted == 3
    with rt.db.read() as s:
        emails = set(s.scalars(select(Lead.email)))
        types = sorted(s.scalars(select(Event.type)))
    assert emails == {"person1@firm1.example", "person2@firm2.example",
                      "person3@firm3.example", "person5@firm5.example"}
    assert types == ["form_submit", "meeting_booked", "unsubscribe"]

    again = backfill_hubspot(rt, pages=reader, page_size=2)
    assert again.accepted == 0 and again.duplicates == 3
    # HubSpot's contact ids are remembered, as the webhook's are (privacy deletions find them).
    from service.crm_identities import lead_ids_for

    known = lead_ids_for(rt, "hubspot", ["contact:1001", "contact:1002", "contact:1004"])
    assert set(known) == {"contact:1001", "contact:1002"}


def test_max_pages_stops_with_the_cursor_to_resume_from(rt, hubspot) -> None:
    reader = HubSpotContactPages(HS, "tok", client=httpx.Client())
    first = backfill_hubspot(rt, pages=reader, max_pages=1)
    assert (first.pages, first.next_after) == (1, "c2")
    rest = backfill_hubspot(rt, pages=reader, after=first.next_after)
    assert (rest.pages, rest.next_after, rest.contacts) == (2, None, 3)


def test_the_cli_backfills_and_names_what_is_missing(tmp_path, monkeypatch, hubspot) -> None:
    import os

    from hitl.cli import app

    for name in list(os.environ):
        if name.startswith(("HITL_", "SLACK_", "OPENAI_", "HUBSPOT_", "SALESFORCE_")):
            monkeypatch.delenv(name)
    settings = make_settings(tmp_path)
    monkeypatch.setenv("HITL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HITL_CHROMA_PATH", str(tmp_path / "chroma"))
    monkeypatch.setenv("HITL_EMBEDDINGS", "local")
    missing = CliRunner().invoke(app, ["crm", "backfill", "hubspot"])
    assert missing.exit_code == 2 and "HUBSPOT_ACCESS_TOKEN" in missing.output

    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "tok")
    monkeypatch.setenv("HUBSPOT_API_URL", HS)
    done = CliRunner().invoke(app, ["crm", "backfill", "hubspot", "--page-size", "2",
                                    "--no-process"])
    assert done.exit_code == 0, done.output
    assert "3 page(s), 5 contact(s): 4 lead(s), 1 without a usable email" in done.output
    assert "events accepted 3" in done.output
