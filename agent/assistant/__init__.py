"""The rep's assistant (issue 17): a LangGraph graph answering a rep's asks from the store and
turning every state change into a proposal the rep approves (`HITLRequest`).

`state.py` the state, views and port; `intents.py` the offline parser; `tools.py` the tools;
`answers.py` the offline answers; `model.py` tool calling with a model; `graph.py` the wiring.
Importing this package does no work (the graph module pulls in LangGraph).
"""
