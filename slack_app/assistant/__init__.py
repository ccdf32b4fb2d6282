"""The rep's assistant in Slack (issue 17): a DM thread with the app is a conversation.

- `listeners`: Bolt listeners. A rep's message in a DM thread is put on disk as a job before
  Slack gets its answer; proposal and feedback clicks likewise. Nothing is answered in the web
  process, so a crash after the ack loses nothing.
- `jobs`: the worker's half. Set the "thinking" status, ask `service.assistant`, stream the
  answer (`chat.startStream` / `appendStream` / `stopStream`, or `chat.postMessage` where
  Slack does not stream), record decisions and feedback.
- `blocks`: pure Block Kit builders; every text the assistant wrote goes through
  `slack_app.text` (answers quote lead text, which is hostile).
"""
