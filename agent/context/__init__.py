"""The "why now" context package: what a rep (and the drafter) needs to act on a lead, and no more.

`build_context_package` is deterministic and pure apart from the content-library lookup. Its
size does not grow with the lead's history: at most three top signals, one last touch, at most
one risk per kind, and sentences whose only history-dependent part is an aggregate count.

Lead-supplied text (names, titles, URLs, reply text, ticket subjects) is hostile: it is stripped
of control characters, collapsed to one line and truncated; inbound reply text only ever appears
as one short snippet in that signal's `detail`, never in `why_now`, risks or the library query.
Text that tries to instruct the assistant is flagged for the rep as a risk ("contains
instructions aimed at the assistant"), in words of our own, never quoting it.

Layout: `sanitize` (hostile text), `timing`, `signals` (ranking, details, attribution), `risks`,
`recommend` (next step, angle, asset), `why_now` (the sentence), `builder` (puts them together).
"""

from agent.context.builder import build_context_package

__all__ = ["build_context_package"]
