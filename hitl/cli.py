"""The `hitl` command line: builds the Typer app from the command modules in hitl/commands/.

Command modules import only typer and the standard library at module level (heavy libraries
inside each command), so `hitl --help` stays fast."""

from __future__ import annotations

import typer

from hitl.commands import bench, data, ops, report, serve, version
from hitl.commands import eval as eval_cmd
from hitl.commands.approvals import approvals_app
from hitl.commands.content import content_app
from hitl.commands.crm import crm_app
from hitl.commands.experiments import experiments_app
from hitl.commands.handoffs import handoffs_app
from hitl.commands.kb import kb_app
from hitl.commands.leads import leads_app
from hitl.commands.tokens import tokens_app

app = typer.Typer(
    help="Human-in-the-loop revenue assistant: signals in, why-now packages and drafts out, "
         "people approve.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)

app.command()(serve.serve)
app.command("worker")(serve.worker_command)
app.command()(data.demo)
app.command()(data.ingest)
app.command()(data.tune)
app.command("eval", help=eval_cmd.EVAL_HELP)(eval_cmd.eval_command)
app.command("report", help=report.REPORT_HELP)(report.report_command)
app.command()(bench.bench)
db_app.command("upgrade")(data.db_upgrade)
app.add_typer(db_app, name="db")
app.add_typer(kb_app, name="kb")
app.add_typer(content_app, name="content")
app.add_typer(ops.outbox_app, name="outbox")
app.add_typer(ops.jobs_app, name="jobs")
app.callback()(version.main_callback)
app.add_typer(tokens_app, name="tokens")
app.add_typer(leads_app, name="leads")
app.add_typer(approvals_app, name="approvals")
app.add_typer(handoffs_app, name="handoffs")
app.add_typer(crm_app, name="crm")
app.add_typer(experiments_app, name="experiments")


def main() -> None:
    """Console entry point (`hitl`)."""
    app(prog_name="hitl")


if __name__ == "__main__":
    main()
