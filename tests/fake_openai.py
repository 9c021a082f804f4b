"""A loopback (127.0.0.1) OpenAI-compatible chat-completions server for tests, with injectable faults.

Answers are deterministic: a listing violates every policy whose id appears in its title (``"weapons
item 3"`` violates weapons), with stated confidence 0.9 and, when the request asks for them, token
log-probabilities that put 0.8 on the written verdict. A title containing ``vote`` violates weapons
only for requests whose seed is not a multiple of 3 (so three samples vote 2 to 1).

A generation request (scripts/generate.py: its user message asks for a ``"listings"`` list) is keyed like the
generator's own request id, ``<clause>/<lookalike|violation>/<language>-<market>`` (the clause is the first
``policy.N`` in the message, the kind ``lookalike`` when it says ``ALLOWED``, language and market those of the
answer shape), and answered with ``generate_n`` listings in the requested language titled ``<key> #<i>``, the
first one's title starting with the clause's policy id (so this server, labelling them, flags the first only).

``faults`` maps a listing title (or a generation key) to what its 1st, 2nd, ... request gets; later requests are
answered normally. A fault is ``429`` (with ``Retry-After: 1``; ``429:0`` for 0 s), ``500``, ``slow`` (answers
after ``slow_s``), ``malformed``, ``unknown_policy``, ``truncated`` or ``ok``; for generation also ``bad_items``
(one item without a title, one with the price "ask me"), ``wrong_language`` (one item in "fr", one in "EN!"),
``same`` (the same listing twice) and ``empty`` (no listings). Every request is counted per title (``counts``)
and logged with its time (``log``). Needs no dependency beyond the standard library.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from moddistill.teacher.prompts import LISTING_END, LISTING_START

_TOKEN = re.compile(r'\s+|[{}\[\]:,"]|[^\s{}\[\]:,"]+')
# the answer shape a generation request shows (teacher/generation.py): its market and language are the request's
_GENERATION = re.compile(r'\{"listings": \[\{.*"market": "(?P<market>[^"]*)", "language": "(?P<language>[^"]*)"\}')


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops connections when many requests arrive at once


class FakeOpenAI:
    def __init__(self, policy_ids, *, faults=None, api_key=None, delay_s=0.0, slow_s=2.0, logprobs=True,
                 refuse_formats=(), generate_n=2):
        self.policy_ids, self.generate_n = tuple(policy_ids), generate_n
        self.faults = dict(faults or {})
        self.api_key, self.delay_s, self.slow_s, self.logprobs = api_key, delay_s, slow_s, logprobs
        self.refuse_formats = set(refuse_formats)  # response_format kinds answered with HTTP 400
        self.counts: Counter = Counter()
        self.log: list[tuple[str, str, float]] = []  # (title or "<preflight>", fault, time)
        self.bodies: list[dict] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def listing_requests(self) -> int:
        return sum(n for title, n in self.counts.items() if title != "<preflight>")

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if not self.path.endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                sent = self.headers.get("Authorization", "")
                if fake.api_key is not None and sent != f"Bearer {fake.api_key}":
                    # echo the key the way some vendors do, so the client must redact it
                    return self._send(401, {"error": {"message": f"Incorrect API key provided: {sent[7:]}"}})
                fmt = body.get("response_format") or {}
                kind = "json_object_schema" if fmt.get("type") == "json_object" and "schema" in fmt else fmt.get("type")
                if kind in fake.refuse_formats:
                    return self._send(400, {"error": {"message": f"response_format {kind} is not supported"}})
                title = _title(body)
                with fake._lock:
                    fake.counts[title] += 1
                    n = fake.counts[title]
                    script = fake.faults.get(title, [])
                    fault = script[n - 1] if n <= len(script) else "ok"
                    fake.log.append((title, fault, time.monotonic()))
                    fake.bodies.append(body)
                if fake.delay_s:
                    time.sleep(fake.delay_s)
                if fault.startswith("429"):
                    wait = fault.partition(":")[2] or "1"
                    return self._send(429, {"error": {"message": f"slow down, key {sent[7:]}"}}, {"Retry-After": wait})
                if fault == "500":
                    return self._send(500, {"error": {"message": f"internal error for {sent}"}})
                if fault == "slow":
                    time.sleep(fake.slow_s)
                self._send(200, fake._completion(body, title, fault))

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

        return Handler

    def _completion(self, body: dict, title: str, fault: str) -> dict:
        finish = "stop"
        if title == "<preflight>":
            content = '{"ok": true}'
        elif _GENERATION.search(body["messages"][-1]["content"]):
            content = self._listings(body, title, fault)
            if fault == "truncated":
                content, finish = content[: len(content) // 2], "length"
        else:
            system = body["messages"][0]["content"]
            judged = re.findall(r"^\[([a-z_]+)\] ", system, re.MULTILINE)
            verdicts = {p: {"violates": self._violates(p, title, body.get("seed")), "confidence": 0.9} for p in judged}
            if '"violations"' in system:  # the violations design: only the violated policies, no rationale
                answer = {"violations": [{"policy": p, "confidence": 0.9} for p, v in verdicts.items() if v["violates"]]}
                if fault == "unknown_policy":
                    answer["violations"].append({"policy": "firearms", "confidence": 0.9})
            elif len(judged) == 1:
                answer = {"rationale": f"judged {title}", **verdicts[judged[0]]}
            else:
                answer = {"rationale": f"judged {title}", "verdicts": verdicts}
            if fault == "unknown_policy" and "verdicts" in answer:
                answer["verdicts"]["firearms"] = {"violates": True, "confidence": 0.9}
            content = json.dumps(answer)
            if fault == "malformed":
                content = "Sure! Here is my verdict: {verdicts: weapons=yes"
            elif fault == "truncated":
                content, finish = content[: len(content) // 2], "length"
        choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}
        if body.get("logprobs") and self.logprobs:
            choice["logprobs"] = {"content": [_token_logprob(t) for t in _TOKEN.findall(content)]}
        usage = {"prompt_tokens": sum(len(m["content"]) for m in body["messages"]) // 4,
                 "completion_tokens": len(content) // 4}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return {"id": "chatcmpl-fake", "object": "chat.completion", "model": body.get("model"), "choices": [choice],
                "usage": usage}

    def _listings(self, body: dict, key: str, fault: str) -> str:
        if fault == "malformed":
            return "Sure! Here are two listings: {listings: [title: gun"
        language = _GENERATION.search(body["messages"][-1]["content"]).group("language")
        policy = key.split(".")[0]  # the first title names the clause's policy: the fake labeller flags it
        items = [{"title": f"{policy + ' ' if i == 0 else ''}{key} #{i}", "description": "made up for a test",
                  "category": "Misc > Other", "price": 10 + i, "currency": "USD", "market": "US", "language": language}
                 for i in range(self.generate_n)]
        if fault == "bad_items":
            items[0]["title"], items[1]["price"] = "", "ask me"
        elif fault == "wrong_language":
            items[0]["language"], items[1]["language"] = "fr", "EN!"
        elif fault == "same":
            items = [{**items[0], "title": "the same item"}] * 2
        elif fault == "empty":
            items = []
        return json.dumps({"listings": items}, ensure_ascii=False)

    @staticmethod
    def _violates(pid: str, title: str, seed) -> bool:
        if "vote" in title and pid == "weapons":
            return seed is not None and seed % 3 != 0
        return pid in title.split()


def _title(body: dict) -> str:
    user = body["messages"][-1]["content"]
    generation = _GENERATION.search(user)
    if generation:
        clause = re.search(r"\b[a-z][a-z0-9_]*\.\d+\b", user).group()
        kind = "lookalike" if "ALLOWED" in user else "violation"
        return f"{clause}/{kind}/{generation.group('language')}-{generation.group('market')}"
    if LISTING_START not in user:
        return "<preflight>"
    data = user.split(LISTING_START, 1)[1].rsplit(LISTING_END, 1)[0]
    return json.loads(data)["title"]


def _token_logprob(token: str) -> dict:
    if token in ("true", "false"):
        other = "false" if token == "true" else "true"
        top = [{"token": token, "logprob": math.log(0.8)}, {"token": other, "logprob": math.log(0.2)}]
        return {"token": token, "logprob": math.log(0.8), "top_logprobs": top}
    return {"token": token, "logprob": -0.01, "top_logprobs": [{"token": token, "logprob": -0.01}]}
