"""The customer-facing support conversation: a second LangGraph graph, grounded in the knowledge
base, that hands a conversation to a person in Slack with everything the customer already said.

`graph.py` wires the nodes, `state.py` holds the state and the `SupportPort`, `routers.py` the
pure routing functions, `policy.py` the `[support]` policy, `triggers.py` / `sentiment.py` the
pure handoff triggers, `answers.py` the grounded answerers, `summary.py` the warm-transfer
package builder.
"""
