"""The support surface in Slack: warm-transfer cards, their threads, and the people who take over.

- A transfer posts a card to `HITL_SLACK_SUPPORT_CHANNEL` (summary, trigger, sentiment, customer
  facts, what the bot tried, a `Claim` button) and the full transcript in its thread.
- `Claim` makes the clicker the owner (first click wins; later ones get an ephemeral "already
  claimed by <@U…>"). The owner's thread replies reach the customer (role `agent`); new customer
  messages arrive in the thread; `Resolve` ends the conversation, `Hand back` returns it to the
  bot with a note.
- Unclaimed past the policy's time, the thread mentions the support lead and the lead gets a DM.

Mirrors the approvals side: `blocks` (pure Block Kit), `jobs` (every Web API call is a durable
job, `SUPPORT_SLACK_JOB_HANDLERS`, retried by the worker; what they record goes through
`slack_app.store`) and `listeners` (`register_support`: they only translate Slack into
`service.conversations` calls).
"""
