"""Two weeks of "short vs long first email", seeded: `python -m bench.experiment_run [--leads N]
[--seed S] [--conversations C] [--json]`.

A runtime on a temporary SQLite store, with the policy file copied from the shipped one and its
commented example experiment (`first-email-length`: offline_draft_body_long.j2 vs
offline_draft_body_short.j2) switched on; an injected clock (config/clock.py FrozenClock) moved
through the experiment's two weeks (7 to 21 December 2026); every card decided through
`service.approvals.decide`; every approved email delivered over SMTP to tools/smtp_sink.py; then
what leads and support customers do, drawn from a seeded RNG with different true rates per
variant (bench/experiment_sim.py). At the end (21 December, the experiment's end) it prints
`GET /v1/experiments` (through the FastAPI TestClient), the KPI report's experiments and CSAT
sections, and the report's Markdown summary.

The same seed gives the same figures: the store's random ids (`uuid.uuid4`, which decide the
lead ids and so each lead's variant) are drawn from the seed for the length of the run.
"""

from __future__ import annotations

import contextlib
import random
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.experiment_sim import TRUE_RATES, Tally, TwoWeeks

DEFAULT_LEADS = 400
DEFAULT_SEED = 19
EXPERIMENT = "first-email-length"
TOKEN = "bench-experiment-token"


def example_policy(folder: Path) -> Path:
    """The shipped policy file with its first commented `[[experiments]]` example switched on
    (the one up to the next example's `# [[experiments]]`)."""
    from config.settings import DEFAULTS_DIR

    text = (DEFAULTS_DIR / "policy.toml").read_text(encoding="utf-8")
    start = text.index(f'# [[experiments]]\n# name = "{EXPERIMENT}"')
    end = text.index("# [[experiments]]", start + 1)
    block = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#")
                      for line in text[start:end].splitlines())
    path = folder / "policy.toml"
    path.write_text(text[:start] + block + "\n" + text[end:], encoding="utf-8")
    return path


@contextlib.contextmanager
def seeded_ids(seed: int) -> Iterator[None]:
    """`uuid.uuid4` drawn from the seed while the run lasts (restored after)."""
    rng, lock, original = random.Random(f"ids:{seed}"), threading.Lock(), uuid.uuid4

    def uuid4() -> uuid.UUID:
        with lock:
            return uuid.UUID(int=rng.getrandbits(128), version=4)

    uuid.uuid4 = uuid4
    try:
        yield
    finally:
        uuid.uuid4 = original


@dataclass
class ExperimentRun:
    leads: int
    seed: int
    experiments: list[dict[str, Any]]  # GET /v1/experiments, as JSON
    kpi: dict[str, Any]  # the KPI report's run
    markdown: str  # its Markdown summary
    tally: Tally
    seconds: float


def run(leads: int = DEFAULT_LEADS, seed: int = DEFAULT_SEED,
        conversations: int | None = None) -> ExperimentRun:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hitl-experiment-") as tmp, seeded_ids(seed):
        return _run(Path(tmp), leads, seed,
                    conversations if conversations is not None else max(20, leads // 5),
                    started)


def _run(folder: Path, leads: int, seed: int, conversations: int,
         started: float) -> ExperimentRun:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from config.clock import FrozenClock
    from config.settings import load_settings
    from reports.kpi.build import build_kpi_report
    from reports.render import render_kpi_markdown
    from service import personal_tokens
    from service.runtime import build_runtime
    from service.worker import Worker
    from tools.smtp_sink import SmtpSink

    with SmtpSink() as sink:
        settings = load_settings(
            database_url=f"sqlite:///{folder / 'hitl.db'}", chroma_path=folder / "chroma",
            chroma_url=None, api_token=TOKEN, openai_api_key=None, openai_base_url=None,
            embeddings="local", slack_bot_token=None, slack_signing_secret=None,
            slack_app_token=None, smtp_url=sink.url, worker_threads=1,
            policy_file=example_policy(folder))
        probe = build_runtime(settings)
        experiment = next(e for e in probe.policy.experiments if e.name == EXPERIMENT)
        probe.close()
        assert experiment.ends_at is not None
        clock = FrozenClock(experiment.starts_at)
        rt = build_runtime(settings, clock=clock)
        rt.db.upgrade()
        worker = Worker(rt, threads=1)
        app = create_app(rt)
        try:
            with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as staff, \
                    TestClient(app) as customer:
                sasha = {"Authorization":
                         f"Bearer {personal_tokens.create(rt, 'U0SUP0001')[1]}"}
                sim = TwoWeeks(rt=rt, worker=worker, staff=staff, customer=customer,
                               sink=sink, clock=clock, experiment=experiment, seed=seed,
                               sasha=sasha)
                sim.plan(leads, conversations)
                sim.run(until=experiment.ends_at)
                answer = staff.get("/v1/experiments")
                answer.raise_for_status()
                kpi = build_kpi_report(rt, days=None)
        finally:
            worker.stop()
            rt.close()
    return ExperimentRun(leads=leads, seed=seed, experiments=answer.json(), kpi=kpi,
                         markdown=render_kpi_markdown(kpi), tally=sim.tally,
                         seconds=time.monotonic() - started)


# -- what it prints ---------------------------------------------------------------------------

def _rate(r: dict[str, Any]) -> str:
    if r["rate"] is None:
        return "–"
    return f"{r['rate']:.1%} [{r['low']:.1%}, {r['high']:.1%}]"


def verdict(x: dict[str, Any], metric: str, label: str) -> str:
    """Which variant did better on `metric`, and how sure we are (the experiment's test)."""
    ranked = sorted(x["variants"], key=lambda v: v["rates"][metric]["rate"] or 0, reverse=True)
    best, other = ranked[0], ranked[1]
    test = x["tests"][metric]
    sure = ("no test yet (too few outcomes)" if test["p_value"] is None else
            f"p = {test['p_value']:.4f} ({test['test']}; adjusted for the primary "
            f"metrics {test['p_adjusted']:.4f}): "
            + ("significant at 5 %" if test["significant"] else "not significant yet"))
    return (f"More {label}: {best['name']} ({_rate(best['rates'][metric])} vs "
            f"{other['name']} {_rate(other['rates'][metric])}); {sure}")


def experiments_text(experiments: list[dict[str, Any]]) -> list[str]:
    lines = []
    for x in experiments:
        lines += [f"{x['name']} ({x['description']}), {x['stage']}, {x['status']} "
                  f"({x['starts_at'][:10]} to {(x['ends_at'] or '')[:10]})", ""]
        head = f"{'variant':8} {'leads':>5} {'sent':>5} {'decided':>7}  " \
               f"{'replies / sent':28} {'meetings / leads emailed':28} " \
               f"{'unsubscribes':26} {'approved as-is':26} {'edited':8} rejected"
        lines.append(head)
        for v in x["variants"]:
            r = v["rates"]
            lines.append(
                f"{v['name']:8} {v['assigned']:>5} {v['sent']:>5} {v['decided']:>7}  "
                f"{v['replies']:>3} {_rate(r['replies']):24} "
                f"{v['meetings']:>3} {_rate(r['meetings']):24} "
                f"{v['unsubscribes']:>3} {_rate(r['unsubscribes']):22} "
                f"{v['approved_as_is']:>3} {_rate(r['approved_as_is']):22} "
                f"{v['edited']:>3}/{v['decided']:<4} {v['rejected']} "
                f"{dict(v['rejected_by_reason']) or ''}")
        lines += ["", verdict(x, "replies", "replies"), verdict(x, "meetings", "meetings"),
                  verdict(x, "approved_as_is", "approvals as-is"),
                  f"significant (any of replies, meetings, approved as-is): {x['significant']}"]
        if x["warning"]:
            lines.append(f"warning: {x['warning']}")
        lines.append("")
    return lines


def csat_text(cs: dict[str, Any]) -> list[str]:
    if not cs.get("available"):
        return [f"CSAT: {cs.get('reason')}"]
    o = cs["overall"]
    lines = [f"{o['ratings']} ratings of {cs['asked']} resolved conversations asked "
             f"(response rate {cs['response_rate']:.0%}); CSAT (share of 4-5) {o['csat']:.0%}, "
             f"mean {o['average']}, {o['low']} low scores, {cs['followups']['opened']} "
             f"follow-ups opened for the support lead; scores 1-5: "
             f"{' '.join(f'{k}:{n}' for k, n in cs['distribution'].items())}", ""]
    for title, rows, key in (("path", cs["by_path"], "key"), ("trigger", cs["by_trigger"], "key"),
                             ("agent", cs["by_agent"], "name")):
        lines.append(f"{'by ' + title:24} {'ratings':>7} {'CSAT':>6} {'mean':>5} {'<=2':>4}")
        for r in rows:
            csat = "–" if r["csat"] is None else f"{r['csat']:.0%}"
            lines.append(f"{r[key]:24} {r['ratings']:>7} {csat:>6} {r['average'] or '–':>5} "
                         f"{r['low']:>4}" + ("  (small sample)" if r["small_sample"] else ""))
        lines.append("")
    c = cs["callbacks"]
    lines.append(f"callbacks: {c['scheduled']} scheduled, {c['done']} done, {c['open']} open "
                 f"({c['overdue']} overdue), {c['escalated']} escalated to the support lead")
    return lines


def render(result: ExperimentRun) -> str:
    t = result.tally
    words = {v: round(sum(w) / len(w)) if w else None for v, w in t.words.items()}
    lines = [
        f"# Experiment run: {result.leads} hand-raises, seed {result.seed}, "
        f"{result.seconds:.0f} s", "",
        "## The simulation's truth (what the report should find)",
        *(f"- {v}: reply {r['reply']:.0%}, meeting when replied {r['meeting_if_replied']:.0%}, "
          f"unsubscribe {r['unsubscribe']:.1%} (first emails sent: {t.first_emails[v]}, mean "
          f"{words.get(v)} words)" for v, r in TRUE_RATES.items()),
        f"- cards: {dict(t.cards)}; decisions: {dict(sorted(t.decisions.items()))}",
        f"- lead events: {dict(t.events)} ({t.after_the_end} more would come after the end)",
        f"- support: {dict(sorted(t.support.items()))}",
        f"- cards no longer pending when their rep got to them (moved by the SLA rescue): "
        f"{t.not_pending}", "",
        "## GET /v1/experiments", "", *experiments_text(result.experiments),
        "## KPI report: customer satisfaction (CSAT section)", "",
        *csat_text(result.kpi["csat"]), "",
        "## KPI report: Markdown summary", "", result.markdown,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import logging

    parser = argparse.ArgumentParser(prog="python -m bench.experiment_run",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=DEFAULT_LEADS,
                        help=f"hand-raises over the two weeks (default {DEFAULT_LEADS})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"the RNG seed (default {DEFAULT_SEED})")
    parser.add_argument("--conversations", type=int, default=None,
                        help="support conversations (default: leads / 5, at least 20)")
    parser.add_argument("--json", action="store_true",
                        help="print GET /v1/experiments and the CSAT section as JSON instead")
    args = parser.parse_args(argv)
    if args.leads < 1 or (args.conversations is not None and args.conversations < 0):
        parser.error("--leads must be at least 1 and --conversations not negative")
    logging.basicConfig(level=logging.ERROR)
    result = run(args.leads, args.seed, args.conversations)
    if args.json:
        print(json.dumps({"experiments": result.experiments, "csat": result.kpi["csat"]},
                         indent=2, default=str))
    else:
        print(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

