"""One TLS client context per process, for the HTTPS and SMTPS connections the app opens itself.

Building a verifying context loads the system's CA bundle: about 20 ms of CPU on these machines
(`python -c "import ssl, time; t = time.process_time(); ssl.create_default_context();
print(time.process_time() - t)"`), more than all the rest of a lead's CPU. urllib, which
slack_sdk's sync WebClient sends every call through, and smtplib build a new one for every
connection unless they are given one, so each card posted to Slack and each email sent paid it.
An `SSLContext` is made to be shared by every connection of a process, across threads.
"""

from __future__ import annotations

import ssl
from functools import cache


@cache
def client_tls_context() -> ssl.SSLContext:
    """The process's verifying client context (system CA bundle, hostname checks)."""
    return ssl.create_default_context()
