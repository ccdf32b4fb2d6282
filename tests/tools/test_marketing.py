"""The marketing-automation client at its HTTP boundary (respx), and the enrolment job."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from service.jobs import RetryLater
from service.nurture import enrol
from tools.marketing import EnrolmentError, HttpMarketingAutomation

URL = "http://map.test/api"


def test_enrolment_posts_with_an_idempotency_key() -> None:
    client = HttpMarketingAutomation(URL, "tok")
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{URL}/enrollments").mock(return_value=httpx.Response(201))
        client.enroll(lead_id="lead_1", email="ada@acme.io", track="not-now-quarterly",
                      reason="not_now", idempotency_key="recycle:ho_1")
    request = route.calls.last.request
    assert request.headers["Idempotency-Key"] == "recycle:ho_1"
    assert request.headers["Authorization"] == "Bearer tok"
    assert json.loads(request.content) == {"lead_id": "lead_1", "email": "ada@acme.io",
                                           "track": "not-now-quarterly", "reason": "not_now"}


@pytest.mark.parametrize(("response", "transient"), [
    (httpx.Response(503), True), (httpx.Response(429), True), (httpx.Response(422), False)])
def test_failures_say_whether_to_retry(response, transient) -> None:
    client = HttpMarketingAutomation(URL)
    with respx.mock as mock:
        mock.post(f"{URL}/enrollments").mock(return_value=response)
        with pytest.raises(EnrolmentError) as info:
            client.enroll(lead_id="l", email="e@x.io", track="t", reason="r", idempotency_key="k")
    assert info.value.transient is transient


def test_enrol_job_retries_transient_and_records_the_result(rt, client, worker) -> None:
    from sqlalchemy import select

    from store.tables import AuditEntry
    from tests.flow import pending_card

    card = pending_card(client, worker)
    rt.marketing_override = HttpMarketingAutomation(URL)
    rt.__dict__.pop("marketing", None)
    payload = {"lead_id": card["lead_id"], "track": "re-engage", "reason": "no_response",
               "key": "recycle:x"}
    with respx.mock as mock:
        route = mock.post(f"{URL}/enrollments")
        route.mock(side_effect=httpx.ConnectError("down"))
        with pytest.raises(RetryLater):
            enrol(rt, payload)
        route.mock(return_value=httpx.Response(201))
        enrol(rt, payload)
    with rt.db.session() as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "nurture_enrolment"))
        assert entry.detail["status"] == "enrolled" and entry.detail["track"] == "re-engage"
