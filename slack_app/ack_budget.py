"""Slack's answer within its 3 seconds, budgeted from the moment the request arrived.

A click is answered once its decision (or the assistant's job) is on disk, or when the budget
runs out, whichever comes first; the write goes on behind the answer (shielded), so a click
Slack saw answered still lands. Slack shows the person an error when no answer comes within
3 s, and Bolt itself gives up 3 s after it starts a listener: it then answers 404 ("unhandled
request"), which is what a replay drill on a loaded 2-core CI host once saw when the budget was
counted from the listener's write instead of from arrival.

So the budget is counted from arrival (a global middleware stamps it, before verification and
authorisation have taken their share), and it leaves half of Slack's 3 s for what comes after
it: the answer still needs the event loop, which a busy process gives out in turns.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

ACK_BUDGET_S = 1.5
_ARRIVED = "hitl_arrived_at"


async def stamp_arrival(context: Any, next: Callable[[], Awaitable[None]]) -> None:  # noqa: A002
    """Bolt global middleware (Bolt passes arguments by name, hence `next`)."""
    context[_ARRIVED] = time.monotonic()
    await next()


def budget_left(context: Any) -> float | None:
    """Seconds left of the answer budget for the request `context` belongs to; None (no
    limit) without a context: events are answered before their listener runs, so their
    writes may take the time they need."""
    if context is None:
        return None
    arrived = context.get(_ARRIVED)
    if arrived is None:  # a request that did not pass the middleware: the whole budget
        return ACK_BUDGET_S
    return max(0.0, arrived + ACK_BUDGET_S - time.monotonic())


async def within_budget(work: Awaitable[Any], context: Any) -> bool:
    """Wait for `work` while the budget lasts: True when it finished, False when the answer
    has to go first (the work continues; its errors are raised only when it finished)."""
    try:
        await asyncio.wait_for(asyncio.shield(work), budget_left(context))
    except TimeoutError:
        return False
    return True
