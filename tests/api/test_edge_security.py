"""Authenticate before reading (api/edge.py): a body is read only from a client that showed a
credential, and only up to a limit; hostile sizes, dates and properties get a clear 4xx and
change nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.asgi_probe import call
from tests.conftest import T0, TOKEN, event, hand_raise, make_settings

MIB = 1 << 20
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"Content-Type": "application/json"}


def _events_stored(rt: Any) -> int:
    from store.tables import Event

    with rt.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Event)) or 0)


def _chunked(total: int, piece: int = 64 * 1024) -> list[bytes]:
    """`total` bytes of a JSON-looking body in `piece`-sized chunks (no Content-Length)."""
    body = (b'{"events": [' + b" " * total)[:total]
    return [body[i:i + piece] for i in range(0, total, piece)]


# -- no token: 401, and not one chunk of the body is pulled ---------------------------------

NO_TOKEN = [
    pytest.param({}, id="no-authorization"),
    pytest.param({"Authorization": "Bearer wrong-token"}, id="wrong-token"),
    pytest.param({"Authorization": "Bearer "}, id="empty-bearer"),
    pytest.param({"Authorization": f"Basic {TOKEN}"}, id="basic-scheme"),
    pytest.param({"Authorization": f"Bearer {TOKEN}x"}, id="token-prefix-match"),
]
ROUTES_WITH_BODIES = [
    ("POST", "/v1/events"),
    ("POST", "/v1/approvals/ap_x/decision"),
    ("POST", "/v1/conversations/c-1/messages"),
    ("DELETE", "/v1/leads/ld_x"),
    ("PUT", "/v1/anything/at/all"),
]


@pytest.mark.parametrize("auth", NO_TOKEN)
def test_oversized_bodies_without_a_token_get_401_unread(client: Any, rt: Any,
                                                        auth: dict[str, str]) -> None:
    for method, path in ROUTES_WITH_BODIES:
        declared = call(client.app, method, path, chunks=[b"x" * 1024] * 4,
                        headers={**auth, **JSON, "Content-Length": str(50 * MIB)})
        chunked = call(client.app, method, path, chunks=_chunked(5 * MIB),
                       headers={**auth, **JSON, "Transfer-Encoding": "chunked"})
        for answer in (declared, chunked):
            assert (answer.status, answer.chunks_read) == (401, 0), (method, path)
            assert answer.headers["www-authenticate"] == "Bearer"
            assert "bearer token" in answer.json()["detail"]
    assert _events_stored(rt) == 0


def test_a_conversation_token_opens_only_reads_and_the_rating_with_a_small_body(
        client: Any) -> None:
    # Customer-side requests hold the conversation's token instead of the bearer: in the query
    # only for a read, so a POST holding one there is refused before a byte of it is read; the
    # rating, whose body carries the token, may send a customer-message-sized body.
    path = "/v1/conversations/c-1/messages"
    queried = call(client.app, "POST", path, query="token=anything", chunks=_chunked(MIB),
                   headers={**JSON, "Transfer-Encoding": "chunked"})
    assert (queried.status, queried.chunks_read) == (401, 0)
    rating = "/v1/conversations/c-1/rating"
    big = call(client.app, "POST", rating, chunks=_chunked(MIB),
               headers={**JSON, "Transfer-Encoding": "chunked"})
    assert big.status == 413 and big.chunks_read < 16
    small = call(client.app, "POST", rating,
                 chunks=[json.dumps({"score": 5, "token": "forged"}).encode()], headers=JSON)
    assert small.status == 403 and small.chunks_read == 1  # read, then refused by the route


# -- with the token: 413 past the limit, nothing stored ---------------------------------------

def test_oversized_bodies_with_the_token_get_413(client: Any, rt: Any) -> None:
    declared = call(client.app, "POST", "/v1/events", chunks=[b"{}"],
                    headers={**AUTH, **JSON, "Content-Length": str(MIB + 1)})
    assert (declared.status, declared.chunks_read) == (413, 0)
    assert "1,048,576 bytes" in declared.json()["detail"]
    assert "fewer events per batch" in declared.json()["detail"]
    for piece in (1, 4096, 64 * 1024, MIB + 1):
        chunks = _chunked(3 * MIB, piece) if piece < MIB else _chunked(MIB + 1, piece)
        chunked = call(client.app, "POST", "/v1/events", chunks=chunks,
                       headers={**AUTH, **JSON, "Transfer-Encoding": "chunked"})
        assert chunked.status == 413, piece
        # Reading stopped at the first chunk past the limit, not at the end of the body.
        assert chunked.chunks_read * piece <= MIB + piece
    # A body understating its length is cut off at the limit all the same.
    liar = call(client.app, "POST", "/v1/events", chunks=_chunked(2 * MIB),
                headers={**AUTH, **JSON, "Content-Length": "10"})
    assert liar.status == 413
    assert _events_stored(rt) == 0


def test_a_batch_at_the_limit_is_accepted(client: Any, rt: Any) -> None:
    events = [event(f"e-{i}", "page_view", at=T0 - timedelta(minutes=i),
                    url="https://vendor.example/" + "p" * 600) for i in range(1000)]
    body = json.dumps({"events": events}).encode()
    assert MIB // 2 < len(body) < MIB
    answer = call(client.app, "POST", "/v1/events", chunks=[body[:4096], body[4096:]],
                  headers={**AUTH, **JSON, "Transfer-Encoding": "chunked"})
    assert answer.status == 202, answer.body[:300]
    assert _events_stored(rt) == 1000


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "0x10", " "])
def test_a_malformed_content_length_is_400(client: Any, length: str) -> None:
    answer = call(client.app, "POST", "/v1/events", chunks=[b"{}"],
                  headers={**AUTH, **JSON, "Content-Length": length})
    assert (answer.status, answer.chunks_read) == (400, 0)


def test_the_body_limit_is_a_setting(tmp_path: Path, clock: Any, content_library: Any) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from hitl.wiring import build_runtime

    rt = build_runtime(make_settings(tmp_path, max_body_bytes=4096), clock=clock,
                       library_override=content_library)
    rt.db.upgrade()
    try:
        with TestClient(create_app(rt), headers=AUTH) as client:
            too_big = client.post("/v1/events", json={"events": hand_raise() * 20})
            assert too_big.status_code == 413 and "4,096 bytes" in too_big.json()["detail"]
            assert client.post("/v1/events", json=hand_raise()[0]).status_code == 202
    finally:
        rt.close()


# -- dates whose offset moves them out of range: 422, never 500 -------------------------------

OUT_OF_RANGE = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00",
                "9999-12-31T23:00:00-01:00", "0001-01-01T00:59:59+01:00"]


@pytest.mark.parametrize("when", OUT_OF_RANGE)
def test_dates_pushed_out_of_range_by_their_offset_are_422(client: Any, rt: Any,
                                                            when: str) -> None:
    bad = {**hand_raise()[0], "occurred_at": when}
    single = client.post("/v1/events", json=bad)
    assert single.status_code == 422
    assert single.json()["errors"] == [{"field": "occurred_at", "message":
                                        "is out of range once its UTC offset is applied"}]
    batch = client.post("/v1/events", json={"events": [hand_raise()[1], bad]})
    assert batch.status_code == 422
    assert [e["field"] for e in batch.json()["errors"]] == ["events.1.occurred_at"]
    assert _events_stored(rt) == 0


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z",
                                  "2200-01-01T00:00:00+00:00", "0001-01-01T00:00:00Z"])
def test_dates_outside_the_supported_range_are_422(client: Any, rt: Any, when: str) -> None:
    answer = client.post("/v1/events", json={**hand_raise()[0], "occurred_at": when})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "occurred_at"
    assert "between 1970-01-01 and 2199-12-31" in answer.json()["errors"][0]["message"]
    assert _events_stored(rt) == 0


def test_the_same_dates_are_refused_by_file_import(tmp_path: Path) -> None:
    from hitl.event_files import EventFileError, read_events

    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps({**hand_raise()[0], "event_id": f"e-{n}",
                                          "occurred_at": when})
                              for n, when in enumerate(OUT_OF_RANGE)) + "\n")
    with pytest.raises(EventFileError) as refused:
        read_events(path)
    for line in range(1, len(OUT_OF_RANGE) + 1):
        assert f"line {line}: occurred_at: is out of range once its UTC offset is applied" \
            in str(refused.value)


# -- properties and text fields: bounded, 422 naming the field --------------------------------

HOSTILE_PROPERTIES = [
    pytest.param({f"k{i}": i for i in range(50)}, "properties has 51 keys; at most 50",
                 id="too-many-keys"),
    pytest.param({"k" * 65: 1}, "properties key 'kkkkkkkk", id="long-key"),
    pytest.param({"": 1}, "properties key '' must be 1 to 64", id="empty-key"),
    pytest.param({"note": "x" * 10_001}, "properties.note is longer than 10,000",
                 id="long-text"),
    pytest.param({"url": "https://vendor.example/" + "a" * 10_000},
                 "properties.url is longer than 10,000", id="long-url"),
    pytest.param({"tags": ["x" * 2_000] * 6}, "properties.tags is longer than 10,000",
                 id="long-list"),
    pytest.param({"meta": {"a": {"b": {"c": {"d": {"e": 1}}}}}},
                 "properties.meta is nested deeper than 4", id="deep"),
    pytest.param({"meta": [[[[[[[[[[[]]]]]]]]]]]}, "properties.meta is nested deeper than 4",
                 id="deep-list"),
    pytest.param({"\u202egnp.exe": "x" * 10_001}, "properties.'\\u202egnp.exe' is longer",
                 id="bidi-key-escaped"),
]


@pytest.mark.parametrize(("properties", "message"), HOSTILE_PROPERTIES)
def test_properties_beyond_their_limits_are_422_naming_them(client: Any, rt: Any,
                                                             properties: dict[str, Any],
                                                             message: str) -> None:
    bad = event("e-bad", "page_view", at=T0, url="https://vendor.example/pricing")
    bad["properties"] = {"url": "https://vendor.example/pricing", **properties}
    answer = client.post("/v1/events", json={"events": [hand_raise()[0], bad]})
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["field"] == "events.1.properties"
    assert error["message"].startswith(message), error["message"]
    assert len(answer.content) < 2_000  # the hostile value is named, not echoed
    assert _events_stored(rt) == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_422(client: Any, rt: Any, literal: str) -> None:
    body = json.dumps(event("e-nan", "product_usage", at=T0, metric="seats", change_pct=0))
    answer = client.post("/v1/events", content=body.replace('"change_pct": 0',
                                                            f'"change_pct": {literal}'),
                         headers=JSON)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["message"] == "properties.change_pct must be a finite number"
    assert _events_stored(rt) == 0


@pytest.mark.parametrize("field", ["first_name", "last_name", "company", "title", "industry"])
def test_lead_text_fields_are_bounded(client: Any, rt: Any, field: str) -> None:
    bad = event("e-long", "page_view", at=T0, url="https://vendor.example/pricing",
                lead={**hand_raise()[0]["lead"], field: "A" * 501})
    answer = client.post("/v1/events", json=bad)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == f"lead.{field}"
    assert _events_stored(rt) == 0


def test_properties_within_the_limits_are_kept(client: Any, rt: Any) -> None:
    ok = event("e-ok", "page_view", at=T0, url="https://vendor.example/pricing",
               tags=["a", "b"], meta={"utm": {"source": "linkedin"}}, score=3.5, seen=True,
               note="x" * 10_000, **{f"k{i}": i for i in range(44)})
    assert client.post("/v1/events", json=ok).status_code == 202
    assert _events_stored(rt) == 1


# -- /metrics and /docs -----------------------------------------------------------------------

def test_metrics_need_the_token_and_docs_do_not_by_default(client: Any) -> None:
    anonymous = {"Authorization": ""}
    assert client.get("/metrics", headers=anonymous).status_code == 401
    assert client.get("/metrics").status_code == 200
    for path in ("/docs", "/openapi.json"):
        assert client.get(path, headers=anonymous).status_code == 200
    assert client.get("/healthz", headers=anonymous).status_code == 200


def test_metrics_public_and_docs_private_are_settings(tmp_path: Path, clock: Any,
                                                      content_library: Any) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from hitl.wiring import build_runtime

    rt = build_runtime(make_settings(tmp_path, metrics_public=True, docs_public=False),
                       clock=clock, library_override=content_library)
    rt.db.upgrade()
    try:
        with TestClient(create_app(rt)) as anonymous:
            assert anonymous.get("/metrics").status_code == 200
            for path in ("/docs", "/redoc", "/openapi.json"):
                assert anonymous.get(path).status_code == 401, path
                assert anonymous.get(path, headers=AUTH).status_code == 200, path
    finally:
        rt.close()


def test_a_body_that_does_not_arrive_in_time_is_408_and_never_reaches_the_app(
        rt: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A body sent a few bytes at a time held its buffer and its connection for as long as
    the sender liked: the whole body must arrive within `BODY_READ_S`."""
    import asyncio

    from api import edge

    monkeypatch.setattr(edge, "BODY_READ_S", 0.05)
    reached: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope)

    async def trickle() -> dict[str, Any]:  # a first chunk, then nothing more
        if not sent_first:
            sent_first.append(True)
            return {"type": "http.request", "body": b'{"events": [', "more_body": True}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    sent_first: list[bool] = []
    answers: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        answers.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/events", "query_string": b"",
             "headers": [(b"authorization", f"Bearer {TOKEN}".encode()),
                         (b"transfer-encoding", b"chunked")]}
    asyncio.run(asyncio.wait_for(edge.Edge(app, rt=rt)(scope, trickle, send), 60))
    assert answers[0]["status"] == 408 and not reached
    assert json.loads(answers[1]["body"]) == {
        "detail": "request body not received within 0.05 s"}
