"""The tests' side of the shared Slack fakes, plus assertion helpers.

The fakes themselves are the bench's (one set for the bench, the drills and the tests):
`FakeSlack` (bench/fake_slack.py), a loopback Slack Web API that records every call and can
fail the next ones, and `SlackSide` (bench/slack_side.py), which signs requests exactly as
Slack does and posts `block_actions`, `view_submission` and `event_callback` to
`/slack/events`. Here they get the tests' token and signing secret by default.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.fake_slack import BOT_ID, BOT_USER  # noqa: F401  (tests import them from here)
from bench.fake_slack import FakeSlack as PackageFakeSlack
from bench.fake_slack import SlackCall as Call  # noqa: F401  (tests type calls with it)
from bench.slack_side import SlackSide as BenchSlackSide


@dataclass
class FakeSlack(PackageFakeSlack):
    """The package's loopback Slack Web API (bench/fake_slack.py), with the tests' token
    and a base URL without the trailing slash (tests add it where Slack's SDK wants one)."""

    token: str = "xoxb-test"
    _last_url: str = field(default="", init=False, repr=False)

    @property
    def url(self) -> str:
        """Still known after the fake stopped (tests check that a dead endpoint is retried)."""
        if self._server is not None:
            self._last_url = super().url.rstrip("/")
        return self._last_url


def button(blocks: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    """The button on a card whose text begins with `prefix`."""
    for block in blocks:
        for element in block.get("elements") or []:
            if element.get("type") == "button" and \
                    element["text"]["text"].startswith(prefix):
                return dict(element)
    raise AssertionError(f"no button beginning with {prefix!r}")


def buttons(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["text"]["text"] for b in blocks for e in b.get("elements") or []
            if e.get("type") == "button"]


def all_text(blocks: list[dict[str, Any]]) -> str:
    """Every text a person would read in these blocks, joined (for assertions)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for value in node.values():
                if isinstance(value, dict | list):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(out)


class SlackSide(BenchSlackSide):
    """Slack's side (bench/slack_side.py), signing with the tests' secret unless told."""

    def __init__(self, client: Any, secret: str = "secret") -> None:
        super().__init__(client, secret)


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02
               ) -> Any:
    """Poll until `predicate()` is truthy (work that runs after Slack got its ack)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)


def card_message(rt: Any, fake: FakeSlack, approval_id: str) -> dict[str, Any]:
    """The posted card of one approval version, as it reads now (after any chat.update)."""
    from slack_app.store import get_card

    card = get_card(rt, approval_id)
    assert card is not None, f"no card recorded for {approval_id}"
    return fake.message(card.channel, card.ts)
