"""An outside service's answer is bounded (config/http.py): in size, in the time its body takes
in all, and in what it unpacks to. Each failure is an `httpx.TransportError`, which every caller
treats as the service failing (retried within its budget, then parked), never a worker thread
held for good or a worker's memory taken."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

import config.http
from config.http import answer_refused, api_client, async_api_client
from tools.crm.hubspot_writer import HubSpotWriter
from tools.crm.writer import CrmError

URL = "https://api.example/v1/answer"


def _chunks(total: int, size: int = 256) -> Iterator[bytes]:
    while total > 0:
        yield b"x" * min(size, total)
        total -= size


def test_an_answer_larger_than_the_bound_is_refused_as_it_arrives() -> None:
    with respx.mock() as router:
        route = router.get(URL)
        with api_client(max_answer_bytes=1000) as client:
            route.mock(return_value=httpx.Response(200, content=_chunks(1000)))
            assert len(client.get(URL).content) == 1000  # the bound itself is read
            route.mock(return_value=httpx.Response(200, content=_chunks(1001)))
            with pytest.raises(answer_refused(), match="api.example answered more than 1,000"):
                client.get(URL)
    assert issubclass(answer_refused(), httpx.TransportError)


def test_no_encoding_is_asked_for_and_an_encoded_answer_is_refused_unopened() -> None:
    bomb = gzip.compress(b"0" * 10_000_000)  # 10 MB unpacked from ~10 KB
    with respx.mock() as router:
        route = router.get(URL).mock(return_value=httpx.Response(
            200, content=bomb, headers={"Content-Encoding": "gzip"}))
        with api_client() as client, pytest.raises(answer_refused(), match="gzip"):
            client.get(URL)
        assert route.calls.last.request.headers["Accept-Encoding"] == "identity"
        with httpx.Client() as plain:  # the control: httpx unpacks whatever it is sent
            assert len(plain.get(URL).content) == 10_000_000


def test_a_body_that_never_ends_is_cut_at_the_read_timeout_in_all(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(config.http, "_now", lambda: clock[0])

    def trickle() -> Iterator[bytes]:
        for _ in range(100):  # a byte every 3 s: httpx's 10 s between two reads never fires
            clock[0] += 3.0
            yield b"x"

    with respx.mock() as router:
        router.get(URL).mock(side_effect=lambda _: httpx.Response(200, content=trickle()))
        with api_client(timeout=10.0) as client:
            with pytest.raises(httpx.ReadTimeout, match="took over 10 s to answer in all"):
                client.get(URL)
            # A per-request timeout (the OpenAI SDK sets one) is the one kept.
            with pytest.raises(httpx.ReadTimeout, match="took over 4 s"):
                client.get(URL, timeout=4.0)


def test_the_async_client_is_bounded_too() -> None:
    async def get() -> Any:
        async with async_api_client(max_answer_bytes=100) as client:
            return await client.get(URL)

    with respx.mock() as router:
        router.get(URL).mock(return_value=httpx.Response(200, content=b"x" * 101))
        with pytest.raises(answer_refused(), match="more than 100 bytes"):
            asyncio.run(get())


def test_a_crm_write_against_a_runaway_answer_fails_as_retryable() -> None:
    writer = HubSpotWriter("https://hubspot.test", "hs-token")  # the client it builds itself
    with respx.mock() as router:
        router.patch("https://hubspot.test/crm/v3/objects/contacts/ana@acme.example").mock(
            return_value=httpx.Response(200, content=_chunks(config.http.MAX_ANSWER_BYTES + 1,
                                                             size=1 << 20)))
        with pytest.raises(CrmError) as caught:
            writer.set_lead_status("ana@acme.example", {"hs_lead_status": "OPEN"},
                                   idempotency_key="k")
    assert caught.value.transient and "AnswerRefused" in str(caught.value)
