"""Reports a manager reads: the eval run and the production KPIs, rendered to self-contained
HTML and Markdown (`render`), published as files (`store`), summarised to Slack (`slack_post`)."""
