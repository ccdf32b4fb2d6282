"""`hitl experiments list|show NAME|stop NAME`: the policy file's A/B tests and how each variant
is doing, from the store (the same service functions `GET /v1/experiments` uses).

`stop` ends new assignments and records who stopped it (audit log and a stopped_at); it never
edits the policy. Keeping the winner is a person editing the policy file."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from hitl.commands._common import fail, runtime_or_exit, settings_or_exit

experiments_app = typer.Typer(help="A/B tests from the policy file: outcomes per variant, "
                                   "stopping one.", no_args_is_help=True)

KEEP_THE_WINNER = ("Nothing switches itself: to keep a variant, edit the policy file (the "
                   "variant's change becomes the policy, with a new version and changelog line) "
                   "and remove the experiment.")


def _runtime() -> Any:
    rt = runtime_or_exit(settings_or_exit())
    rt.db.upgrade()
    return rt


def _pct(rate: dict[str, Any]) -> str:
    if rate["rate"] is None:
        return "-"
    return f"{rate['rate']:.0%} [{rate['low']:.0%}-{rate['high']:.0%}] of {rate['n']}"


def _compare(name: str | None) -> list[dict[str, Any]]:
    from service.errors import ServiceError
    from service.experiments_stats import compare

    rt = _runtime()
    try:
        return compare(rt, name)
    except ServiceError as exc:
        fail(exc.message)
        raise  # unreachable: fail exits
    finally:
        rt.close()


@experiments_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every experiment in the policy file: status, and per variant assigned / replies /
    meetings."""
    rows = _compare(None)
    if as_json:
        typer.echo(json.dumps(rows, default=str, indent=2))
        return
    if not rows:
        typer.echo("no experiments in the policy file ([[experiments]])")
        return
    for x in rows:
        flag = "significant" if x["significant"] else "not significant yet"
        typer.echo(f"{x['name']}  {x['stage']}  {x['status']}  {flag}"
                   + ("  (small samples)" if x["small_sample"] else ""))
        for v in x["variants"]:
            typer.echo(f"    {v['name']:16} assigned {v['assigned']:5}  sent {v['sent']:5}  "
                       f"replies {v['replies']:4}  meetings {v['meetings']:4}")


@experiments_app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="The experiment's name in the policy file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """One experiment: every count and rate with its 95 % interval, the tests, the warning."""
    [x] = _compare(name)
    if as_json:
        typer.echo(json.dumps(x, default=str, indent=2))
        return
    typer.echo(f"{x['name']} ({x['stage']}): {x['description'] or 'no description'}")
    ends = x["ends_at"].isoformat() if x["ends_at"] else "no end date"
    typer.echo(f"  {x['status']}, from {x['starts_at'].isoformat()} to {ends}")
    if x["stopped"]:
        typer.echo(f"  stopped by {x['stopped']['stopped_by']} at "
                   f"{x['stopped']['stopped_at'].isoformat()}")
    for v in x["variants"]:
        typer.echo(f"  variant {v['name']} ({v['share']:.0%} of new leads)"
                   + (f": {v['description']}" if v["description"] else ""))
        typer.echo(f"    assigned {v['assigned']}, drafted {v['drafted']}, decided "
                   f"{v['decided']}, sent {v['sent']}")
        for metric, rate in v["rates"].items():
            typer.echo(f"    {metric:15} {v[metric]:5}  {_pct(rate)}")
        if v["rejected_by_reason"]:
            typer.echo("    rejected by reason: " + ", ".join(
                f"{k} {n}" for k, n in v["rejected_by_reason"].items()))
        if v["edit_ratio_mean"] is not None:
            typer.echo(f"    edits changed {v['edit_ratio_mean']:.0%} of the text on average")
        if v["time_to_decision_p50_seconds"] is not None:
            typer.echo(f"    median time to decision {v['time_to_decision_p50_seconds']:.0f} s")
    for metric, test in x["tests"].items():
        if test["p_value"] is not None:
            verdict = "significant" if test["significant"] else "not significant"
            typer.echo(f"  {metric}: p = {test['p_value']:.4f} ({test['test']}; adjusted "
                       f"{test['p_adjusted']:.4f}), {verdict}")
    typer.echo("  significant: " + ("yes" if x["significant"] else "not yet"))
    if x["warning"]:
        typer.secho(f"  warning: {x['warning']}", fg=typer.colors.YELLOW)
    typer.echo(KEEP_THE_WINNER)


@experiments_app.command("stop")
def stop_command(
    name: Annotated[str, typer.Argument(help="The experiment's name in the policy file.")],
    actor: Annotated[str, typer.Option(help="Who is stopping it (for the audit log).")] = "cli",
    note: Annotated[str | None, typer.Option(help="Why (kept with the stop).")] = None,
) -> None:
    """Stop new assignments (leads already in keep their variant). The policy is not edited."""
    from service.errors import ServiceError
    from service.experiments import stop

    rt = _runtime()
    try:
        done = stop(rt, name, actor=actor, note=note)
    except ServiceError as exc:
        fail(exc.message, 3 if exc.status == 409 else 1)
        return
    finally:
        rt.close()
    typer.echo(f"stopped {done['name']} at {done['stopped_at'].isoformat()} "
               f"(by {done['stopped_by']}): no new leads get a variant.")
    typer.echo(KEEP_THE_WINNER)


def echo_tuning_evidence(proposal: Any) -> None:
    """`hitl tune`'s experiments and CSAT lines (service/experiments_tuning.py)."""
    if proposal.experiments:
        typer.echo("Experiments (what the evidence says to keep; nothing is applied):")
        for item in proposal.experiments:
            typer.echo(f"  {item.experiment} ({item.stage}): {item.advice}")
            typer.echo(f"      evidence: {item.evidence}")
    if proposal.csat is not None:
        typer.echo("Customer satisfaction (support ratings 1-5: count, mean):")
        for kind in ("by_path", "by_trigger"):
            for key, row in sorted(proposal.csat[kind].items()):
                typer.echo(f"  {kind[3:]:8} {key:22} {row['ratings']:5}  {row['mean']:.2f}")
