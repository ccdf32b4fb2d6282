"""Block Kit builders: pure functions from plain data (approval views, context packages) to the
dicts and texts Slack renders. No I/O here; tests compare the output as plain dicts.

- `card`: the approval card and the pieces other builders reuse (outcome, draft, signals);
- `modals`: edit / reject / escalate; `home`: the App Home tab;
- `history`: a handoff's history in a thread; `notices`: texts sent without a card.

Every lead-controlled value (and every draft a model wrote from one) goes through
`slack_app.text`: `inert` in mrkdwn, `plain_text` objects where the layout allows.

Slack limits respected here: 50 blocks per message (100 in a Home tab), 3,000 characters per
section text, 150 per header, 75 per button / option text, 24 per modal title and submit label,
3,000 per `plain_text_input` value, 3,000 for `private_metadata`.
"""
