"""The `hitl` sub-commands, one module per family; `hitl/cli.py` assembles them into one app."""
