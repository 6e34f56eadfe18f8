"""A local stand-in for Twilio's Messages API on 127.0.0.1: it checks each request as Twilio
would (the account's path, basic auth, a form with To, Body and From or MessagingServiceSid)
and answers as a test told it to (by default 201 with a message SID)."""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
FROM = "+15005550006"  # Twilio's magic test sender


@dataclass
class Text:
    """One request the service accepted as well-formed and authenticated (whatever it
    answered)."""

    to: str
    form: dict[str, str]
    answered: int

    @property
    def body(self) -> str:
        return self.form["Body"]


@dataclass
class Answer:
    """What to answer one request: a status, Twilio's JSON body, headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def refused(status: int, code: int, message: str, **headers: str) -> Answer:
    """An error as Twilio writes it."""
    return Answer(status, {"code": code, "message": message, "status": status}, headers)


class SmsService:
    """The fake provider: ``texts`` holds what was sent, ``answer`` scripts the next replies."""

    def __init__(self) -> None:
        self.texts: list[Text] = []
        self.refusals: list[tuple[int, str]] = []  # requests refused before they were read
        self._scripts: dict[str, deque[Answer]] = defaultdict(deque)
        self._sids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The base URL (SMS_API_BASE) pointing here."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, to: str, *answers: Answer) -> None:
        """Answer the next requests for ``to`` so, in turn (then 201 again)."""
        with self._lock:
            self._scripts[to].extend(answers)

    def reset(self) -> None:
        """Forget what was sent and scripted."""
        with self._lock:
            self.texts.clear()
            self.refusals.clear()
            self._scripts.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _reply(self, form: dict[str, str]) -> Answer:
        with self._lock:
            script = self._scripts.get(form["To"])
            if script:
                return script.popleft()
        sid = f"SM{next(self._sids):032x}"
        return Answer(201, {"sid": sid, "status": "queued", "to": form["To"]})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                expected = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
                credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
                if self.path != expected:
                    return self._refuse(refused(404, 20404, f"no such resource {self.path}"))
                if self.headers.get("Authorization") != f"Basic {credentials}":
                    return self._refuse(refused(401, 20003, "Authenticate"))
                if self.headers.get("Content-Type") != "application/x-www-form-urlencoded":
                    return self._refuse(refused(400, 20001, "not form-encoded"))
                form = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
                if not form.get("To") or not form.get("Body"):
                    return self._refuse(refused(400, 21604, "A 'To' and a 'Body' are required"))
                if not (form.get("From") or form.get("MessagingServiceSid")):
                    return self._refuse(refused(400, 21603, "A 'From' number is required"))
                answer = service._reply(form)
                with service._lock:
                    service.texts.append(Text(form["To"], form, answer.status))
                self._send(answer)

            def _refuse(self, answer: Answer) -> None:
                with service._lock:
                    service.refusals.append((answer.status, answer.body["message"]))
                self._send(answer)

            def _send(self, answer: Answer) -> None:
                payload = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        return Handler
