"""What a draft's search of other records costs (service/name_search.py `other_people`), by how
the store's names are spread.

Fills a SQLite store in a temporary folder with `--leads` leads, then times the search for one
of them over the draft the bench's fake model writes for it (~450 characters, naming the lead's
company), CPU seconds of this thread, the median of `--samples` calls:

- `alike`: every company begins alike ("Cpu 1a2b3c 17", as the bench's hand-raises are named,
  and as a large account's colleagues or every "University of ..." are);
- `diverse`: companies that share no more than their first word.

    python -m bench.name_search [--leads 2000] [--samples 300] [--postgres URL]

Keys and VM steps say the rest: `keys` is how many the text yields, `vm_steps` SQLite's virtual
machine steps of one search (host-independent). With `--postgres` (a server's admin URL, as
`hitl bench --postgres`) the store is a new database there, dropped afterwards, and there are no
VM steps to count.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SUBJECT = 17  # the lead whose draft is searched


def _company(i: int, spread: str) -> str:
    return f"Cpu 1a2b3c {i}" if spread == "alike" else f"Company{i * 7919 % 100_003} Holdings"


def counted_search(db: Any, lead_id: str, lead: Any, text: str) -> tuple[int, list[str]]:
    """(SQLite virtual machine steps, names found) of one search of `text` for `lead`: a cost
    that does not depend on the host's speed (the tests' measure too)."""
    from service.name_search import other_people

    steps = 0

    def step() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    with db.read() as session:
        raw = session.connection().connection.driver_connection
        raw.set_progress_handler(step, 1)
        try:
            found = other_people(session, lead_id, lead, text)
        finally:
            raw.set_progress_handler(None, 0)
    return steps, found


@contextmanager
def _store_url(postgres: str | None) -> Iterator[str]:
    """A new, empty store's URL: SQLite in a temporary folder, or a database on `postgres`."""
    if postgres is None:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/names.db"
        return
    from bench.harness import create_database, drop_database

    name = f"hitl_names_{secrets.token_hex(3)}"
    try:
        yield create_database(postgres, name)
    finally:
        drop_database(postgres, name)


def measure(leads: int, spread: str, samples: int, postgres: str | None = None
            ) -> dict[str, Any]:
    """One store of `leads` leads named as `spread` says, and the search timed on it."""
    from store.db import Database

    with _store_url(postgres) as url:
        db = Database(url)
        try:
            db.upgrade()
            _fill(db, leads, spread, analyze=postgres is not None)
            return _timed_search(db, leads, spread, samples, count_steps=postgres is None)
        finally:
            db.dispose()


def _fill(db: Any, leads: int, spread: str, *, analyze: bool) -> None:
    from sqlalchemy import insert

    from store.tables import Lead

    with db.session() as session:
        session.execute(insert(Lead), [
            {"id": f"lead{i}", "email": f"p{i}@x{i}.io", "first_name": f"Vp{i}",
             "last_name": "Cpu", "company": _company(i, spread), "stage": "new",
             "disqualifiers": [], "created_at": NOW, "updated_at": NOW}
            for i in range(leads)])
    if analyze:  # as autovacuum leaves a table that grew: its statistics current
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE leads")


def _timed_search(db: Any, leads: int, spread: str, samples: int, *, count_steps: bool
                  ) -> dict[str, Any]:
    from agent.guardrails import LeadIdentity
    from bench.model_replies import draft_reply
    from service.name_search import _candidate_keys, other_people

    me = LeadIdentity(email=f"p{SUBJECT}@x{SUBJECT}.io", first_name=f"Vp{SUBJECT}",
                      last_name="Cpu", company=_company(SUBJECT, spread))
    draft = draft_reply([{"role": "user", "content": "Sender: Riley Rep"}], {
        "lead": {"first_name": me.first_name, "company": me.company},
        "package": {"top_signals": [{"type": "demo_request"}]}})
    text = f"{draft['subject']}\n{draft['body']}"

    def search() -> list[str]:
        with db.read() as session:
            return other_people(session, f"lead{SUBJECT}", me, text)

    for _ in range(20):
        search()
    times = []
    for _ in range(samples):
        started = time.thread_time()
        found = search()
        times.append(time.thread_time() - started)
    steps = counted_search(db, f"lead{SUBJECT}", me, text)[0] if count_steps else None
    return {"leads": leads, "spread": spread, "text_chars": len(text),
            "keys": len(_candidate_keys(text)), "vm_steps": steps,
            "search_us_median": round(statistics.median(times) * 1e6), "found": found}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.name_search", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=2000, help="leads in the store")
    parser.add_argument("--samples", type=int, default=300, help="searches timed")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server's admin URL")
    args = parser.parse_args(argv)
    print(json.dumps([measure(args.leads, spread, args.samples, args.postgres)
                      for spread in ("alike", "diverse")], indent=2))


if __name__ == "__main__":
    main()
