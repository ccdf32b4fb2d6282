"""Posting a report summary to a managers' Slack channel, on demand (`hitl report --slack-channel`).

Slack speaks mrkdwn, not Markdown: `to_mrkdwn` converts the few constructs the summaries use
(headings, bold, links, tables as preformatted blocks). The message goes through slack_sdk's
`WebClient` at `SLACK_API_URL` with the bot token, split into section blocks under Slack's
3,000-character limit. When a signed report link is given (service.report_links, made by
`hitl report`), the message ends with it, so a manager opens the charts in a browser without a
token.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.settings import Settings

SECTION_LIMIT = 2900  # Slack's section text limit is 3,000 characters


class SlackPostError(RuntimeError):
    """The summary could not be posted (message is safe to show)."""


def to_mrkdwn(markdown: str) -> str:
    """Markdown -> Slack mrkdwn: `# x` -> `*x*`, `**x**` -> `*x*`, `[t](u)` -> `<u|t>`,
    tables kept readable in a preformatted block."""
    out: list[str] = []
    table: list[str] = []

    def flush_table() -> None:
        if table:
            rows = [[cell.strip().replace("**", "") for cell in r.strip().strip("|").split("|")]
                    for r in table if not re.fullmatch(r"\s*\|?[\s:|-]+\|?\s*", r)]
            widths = [max(len(row[i]) if i < len(row) else 0 for row in rows)
                      for i in range(max(len(row) for row in rows))]
            lines = [" │ ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
                     for row in rows]
            out.append("```\n" + "\n".join(lines) + "\n```")
            table.clear()

    for line in markdown.splitlines():
        if line.lstrip().startswith("|"):
            table.append(line)
            continue
        flush_table()
        heading = re.match(r"^#{1,6}\s+(.*)$", line)
        if heading:  # a whole bold line; bold inside it would close it early
            line = "*" + heading.group(1).strip().replace("**", "") + "*"
        else:
            line = re.sub(r"\*\*(.+?)\*\*", r"*\1*", line)
        line = re.sub(r"\[([^\]]+)\]\((https?://[^)]+)\)", r"<\2|\1>", line)
        line = re.sub(r"^(\s*)[-*] ", r"\1• ", line)
        out.append(line)
    flush_table()
    return "\n".join(out).strip()


def _sections(text: str) -> list[str]:
    """Split on paragraph and line boundaries into chunks Slack accepts."""
    chunks: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > SECTION_LIMIT:  # one enormous line: hard cut
            chunks.append(line[:SECTION_LIMIT])
            line = line[SECTION_LIMIT:]
        if len(current) + len(line) > SECTION_LIMIT:
            chunks.append(current)
            current = ""
        current += line
    if current.strip():
        chunks.append(current)
    return [c.strip("\n") for c in chunks if c.strip()]


def link_text(url: str, label: str) -> str:
    """A mrkdwn link: `&`, `<` and `>` escaped as Slack requires (it unescapes them)."""
    escaped = url.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"<{escaped}|{label}>"


def post_summary(settings: Settings, channel: str, markdown: str, *,
                 report_path: str | None = None, report_link: str | None = None) -> str:
    """Post the summary to `channel`; returns the message's `ts`. Raises SlackPostError.

    `report_link`: a signed URL to the published report, shown as "Open the full report"."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError, SlackClientError

    from tools.tls import client_tls_context

    if not settings.slack_bot_token:
        raise SlackPostError("SLACK_BOT_TOKEN is not set: cannot post to Slack")
    text = to_mrkdwn(markdown)
    blocks: list[dict[str, object]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in _sections(text)[:45]  # Slack allows 50 blocks per message
    ]
    if report_link:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": (
            f"{link_text(report_link, 'Open the full report')} (charts; the link needs no "
            "login and expires)")}})
    if report_path:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"Full report: `{report_path}`"}]})
    client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url,
                       timeout=15, ssl=client_tls_context())
    first_line = text.splitlines()[0] if text else "Report"
    try:
        response = client.chat_postMessage(channel=channel, text=first_line[:300],
                                           blocks=blocks, unfurl_links=False)
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown_error") if exc.response else "unknown_error"
        raise SlackPostError(f"Slack refused the message: {error}") from None
    except (SlackClientError, OSError) as exc:
        raise SlackPostError(f"could not reach Slack at {settings.slack_api_url}: "
                             f"{type(exc).__name__}") from None
    return str(response.get("ts") or "")
