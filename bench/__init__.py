"""`hitl bench`: speed-to-lead and trust, measured on the real server code path.

Package code (not tests) so `hitl bench` runs from a fresh clone:

- `fake_openai`: a local OpenAI-compatible chat-completions server with a latency parameter,
  failure modes (429, 500, garbage JSON, timeouts, cut-off answers) and a mode that obeys
  prompt injections; it records every prompt it receives and how long it took to answer.
- `fake_slack`: a local Slack Web API that records when each call arrived, and `SlackSide`,
  which signs requests to the app the way Slack does.
- `server`: `hitl serve` as a subprocess (start, wait healthy, peak memory, kill -9, restart).
- `workload`: the events the bench sends, the naive prompt, the token counter.
- `recall`: top-signal recall of the context packages on the eval set.
- `runner`: the phases and their figures; `report`: goals, the table and the JSON.
"""
