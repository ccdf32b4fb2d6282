"""A scripted SMTP server for the drills and the sender's tests: per connection, accept,
refuse for now or for good, hang up after the message (having delivered it or not), take the
message and never answer, hold the recipient and never answer, or answer the goodbye oddly."""

from __future__ import annotations

import socketserver
import threading
from dataclasses import dataclass, field


@dataclass
class ScriptedSmtp:
    """Each connection takes the next behaviour from `script` (then `accept`): `accept`
    (250), `temp` (451), `perm` (550), `drop` (hang up after the final dot),
    `deliver_and_drop` (deliver the message, then hang up before answering: RFC 1047's lost
    answer), `stall` (take the message and never answer, until `release` is set),
    `stall_rcpt` (never answer RCPT, until `release`: stopped before the handover),
    `hold_rcpt` (answer RCPT only once `release` is set, then go on as `accept`),
    `drop_at_data` (hang up instead of the 354), `garbled` (answer the final dot with a line
    that is no reply) or `bad_quit` (accept, then answer QUIT with 421).

    A message to a colleague (an address at `colleagues`, the roster's domain: the notices
    that tell people about a failed send) is accepted into `notices`, and neither takes a
    behaviour from the script nor counts as a conversation: the script is about leads' mail."""

    script: list[str] = field(default_factory=list)
    delivered: list[bytes] = field(default_factory=list)
    notices: list[bytes] = field(default_factory=list)
    colleagues: str = "@example.com"
    conversations: int = 0
    port: int = 0  # 0: any free port; a given one lets a drill bring "the same server" back

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.stalled = threading.Event()
        self.release = threading.Event()
        smtp = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                behaviour = ""  # taken at the first RCPT, once it is known whom it is for
                self.say("220 drill.local ESMTP")
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    verb = line.split(b" ", 1)[0].strip().upper()
                    if verb == b"RCPT" and not behaviour:
                        to = line.decode("latin-1").strip().rstrip(">").lower()
                        with smtp._lock:
                            if to.endswith(smtp.colleagues.lower()):
                                behaviour = "colleague"
                            else:
                                smtp.conversations += 1
                                behaviour = smtp.script.pop(0) if smtp.script else "accept"
                    if verb in (b"EHLO", b"HELO"):
                        self.say("250 drill.local")
                    elif verb == b"RCPT" and behaviour in ("stall_rcpt", "hold_rcpt"):
                        smtp.stalled.set()
                        smtp.release.wait(600)
                        if behaviour == "stall_rcpt":
                            return
                        self.say("250 OK")  # hold_rcpt: a slow server, then on as usual
                    elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                        self.say("250 OK")
                    elif verb == b"DATA" and behaviour == "drop_at_data":
                        return
                    elif verb == b"DATA":
                        self.say("354 go ahead")
                        data = b""
                        while not data.endswith(b"\r\n.\r\n"):
                            chunk = self.rfile.readline()
                            if not chunk:
                                return
                            data += chunk
                        if behaviour == "colleague":
                            with smtp._lock:
                                smtp.notices.append(data)
                            self.say("250 2.0.0 queued")
                            continue
                        if behaviour == "drop":
                            return  # hang up after the final dot, before any reply
                        if behaviour == "deliver_and_drop":
                            with smtp._lock:
                                smtp.delivered.append(data)
                            return
                        if behaviour == "stall":
                            smtp.stalled.set()
                            smtp.release.wait(600)  # never answer the final dot
                            return
                        if behaviour == "garbled":
                            self.say("OK, got it")
                        elif behaviour == "temp":
                            self.say("451 4.3.0 mailbox busy, try again later")
                        elif behaviour == "perm":
                            self.say("550 5.1.1 no such user here")
                        else:
                            with smtp._lock:
                                smtp.delivered.append(data)
                            self.say("250 2.0.0 queued")
                    elif verb == b"QUIT":
                        self.say("421 closing" if behaviour == "bad_quit" else "221 bye")
                        return
                    else:
                        self.say("502 unknown")

            def say(self, text: str) -> None:
                self.wfile.write(text.encode() + b"\r\n")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
