"""Configuration every layer reads: settings from the environment, the clock, the shipped
defaults (policy, roster, content, knowledge base). Imports nothing from the project."""
