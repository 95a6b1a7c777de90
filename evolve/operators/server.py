"""A loopback OpenAI-compatible chat-completions endpoint that answers with the offline operator.

For tests and benchmarks: litellm talks to it over real HTTP (`model="openai/offline"`,
`api_base=http://127.0.0.1:PORT/v1`, any api_key), so the client path is exercised end to end without a
network or a key. It answers from the structured request the prompt was rendered from
(evolve.operators.context.Request), which the LLM client sends, for this model only, as JSON in the body
field REQUEST_FIELD beside the messages; the prompt's text only seeds the draw. A request without that
field is answered 400: the prose is never parsed back. Optional added latency and a rate of garbage
replies (prose only, a cut-off block, a syntax error, an unknown file) let benchmarks and tests see the
failure paths.

The answer is in the reply format the request asks for (whole files or SEARCH/REPLACE edits).
`tokens_per_s` adds the time a model generating that many tokens a second would take over the reply
(its `completion_tokens`), on top of `latency_s`: what makes a long reply slow.

A `mode` other than "offline" makes the server a model that never helps, for the progress guard's
tests and benchmark:
- stuck: the first well-formed answer it gave, to every later request (a deterministic or weak model:
  after the first, every reply is a duplicate);
- stall: no answer within `stall_s` seconds (the client's timeout ends the call);
- prose, frozen_edit, and for edits edit_mismatch, edit_twice, edit_cut, edit_frozen: evolve/operators/
  unhelpful.py (text without a file block; a statement added inside the frozen block; an edit that matches
  nothing, one that matches twice, a reply cut off inside its edits, an edit to the frozen block).
`stall_at` makes only those requests (numbered from 1) stall, in any mode: a model whose calls usually return.

    python -m evolve.operators.server --port 8765 [--latency 0.5] [--tokens-per-s 60] [--garbage-rate 0.1]
                                      [--seed 0] [--mode M]
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import math
import random
import socket
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from evolve.operators import unhelpful
from evolve.operators.context import Request
from evolve.operators.offline.operator import respond

GARBAGE = (
    unhelpful.PROSE,
    "```python\nmodel.py\nimport torch\n\nclass GPT(torch.nn.Module):\n    def __init__(self",
    "```python\nmodel.py\ndef broken(:\n    pass\n```\n\n```python\ntrain_mps.py\n```",
    "```python\nhelpers.py\nx = 1\n```",
)


MODES = ("offline", "stuck", "stall", *unhelpful.MODES)
MODEL = "openai/offline"  # the litellm model name a campaign gives this server (with its URL as api_base)
REQUEST_FIELD = "persona_evolve_request"  # the body field holding the structured request (Request.to_wire)


def count_tokens(text: str) -> int:
    """A rough token count (4 characters per token), reported as `usage`; no tokenizer is loaded."""
    return max(1, math.ceil(len(text) / 4))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: litellm's HTTP client pools connections
    server: LoopbackHTTPServer

    def setup(self) -> None:
        super().setup()
        # replies are written in one piece; without NODELAY a small response can wait on Nagle's timer
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the library never prints
        pass

    def _send(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode("utf-8")
        head = (f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("ascii")
        self.wfile.write(head + body)  # headers and body in one write: one packet for small replies
        self.wfile.flush()

    def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self._send(status, {"error": {"message": message, "type": kind, "code": None}})

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(200, {"object": "list", "data": [{"id": "offline", "object": "model", "owned_by": "local"}]})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:  # noqa: N802
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"no route {self.path}")
            return
        try:
            chat = _read_chat(self.rfile.read(int(self.headers.get("Content-Length", "0"))), self.server.seed)
            reply = self.server.answer(chat.prompt, chat.seed, chat.request)
        except BadRequest as e:
            self._error(400, str(e))
            return
        if reply is None:  # stall: hold the request past the client's timeout, then drop it
            time.sleep(self.server.stall_s)
            self.close_connection = True
            return
        completion = _completion(chat, reply)
        time.sleep(self.server.delay_s(completion["usage"]["completion_tokens"]))
        self._send(200, completion)


class BadRequest(ValueError):
    """A chat request the server cannot answer; its message is the 400 response's."""


@dataclass(frozen=True)
class Chat:
    """One chat-completions request as the server reads it: the prompt text (what the offline operator's
    draw depends on), the seed, and the structured request when the client sent one."""

    model: str
    prompt: str
    seed: int
    request: Request | None


def _read_chat(body: bytes, default_seed: int) -> Chat:
    try:
        payload = json.loads(body or b"{}")
        prompt = "\n\n".join(str(m.get("content") or "") for m in payload["messages"]
                             if m.get("role") != "assistant")
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise BadRequest(f"bad request: {e}") from None
    if payload.get("stream"):
        raise BadRequest("streaming is not supported by the loopback server")
    try:
        request = None if REQUEST_FIELD not in payload else Request.from_wire(payload[REQUEST_FIELD])
    except ValueError as e:
        raise BadRequest(f"bad {REQUEST_FIELD}: {e}") from None
    seed = payload.get("seed")
    return Chat(str(payload.get("model", "offline")), prompt, seed if isinstance(seed, int) else default_seed,
                request)


def _completion(chat: Chat, reply: str) -> dict:
    """The OpenAI chat-completion object for `reply`, with estimated token counts."""
    tokens_in, tokens_out = count_tokens(chat.prompt), count_tokens(reply)
    return {
        "id": "chatcmpl-" + hashlib.sha256(f"{chat.seed}{chat.prompt}".encode()).hexdigest()[:24],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": chat.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out},
    }


class LoopbackHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], latency_s: float = 0.0, garbage_rate: float = 0.0,
                 seed: int = 0, mode: str = "offline", stall_s: float = 30.0, stall_at: Collection[int] = (),
                 tokens_per_s: float | None = None):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        if tokens_per_s is not None and tokens_per_s <= 0:
            raise ValueError("tokens_per_s must be positive")
        super().__init__(address, _Handler)
        self.latency_s, self.tokens_per_s = latency_s, tokens_per_s
        self.garbage_rate = garbage_rate
        self.seed = seed
        self.mode, self.stall_s, self.stall_at = mode, stall_s, frozenset(stall_at)
        self.requests = 0  # chat-completion requests received with a structured request, answered or not
        self.prompts: collections.deque[str] = collections.deque(maxlen=200)  # the newest, for tests
        self._first: str | None = None
        self._lock = threading.Lock()

    def delay_s(self, completion_tokens: int) -> float:
        """Seconds to wait before sending a reply of `completion_tokens` tokens."""
        generating = completion_tokens / self.tokens_per_s if self.tokens_per_s else 0.0
        return self.latency_s + generating

    def answer(self, prompt: str, seed: int, request: Request | None) -> str | None:
        """The reply to one request, or None to stall. Without the structured request there is nothing
        to answer from: BadRequest (the prose is never read back)."""
        if request is None:
            raise BadRequest(f"the request has no {REQUEST_FIELD!r} field: this server answers only the "
                             "structured requests persona-evolve's LLM client sends beside the messages")
        with self._lock:
            self.requests += 1
            n = self.requests
            self.prompts.append(prompt)
        if self.mode == "stall" or n in self.stall_at:
            return None
        if self.mode in unhelpful.MODES:
            return unhelpful.MODES[self.mode](prompt, seed, request)
        garbage = self._garbage(n)
        if garbage is not None:
            return garbage
        return self._stuck(prompt, seed, request) if self.mode == "stuck" else respond(prompt, request, seed)

    def _garbage(self, n: int) -> str | None:
        """Garbage is drawn per request from (seed, request number): reproducible for a given call order."""
        rng = random.Random(f"{self.seed}:{n}")
        return rng.choice(GARBAGE) if self.garbage_rate > 0 and rng.random() < self.garbage_rate else None

    def _stuck(self, prompt: str, seed: int, request: Request) -> str:
        """The first well-formed answer, to every request."""
        with self._lock:
            if self._first is None:
                self._first = respond(prompt, request, seed)
            return self._first


class LoopbackServer:
    """Start in-process (tests): `with LoopbackServer() as s: litellm.completion(..., api_base=s.url)`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency_s: float = 0.0,
                 garbage_rate: float = 0.0, seed: int = 0, mode: str = "offline", stall_s: float = 30.0,
                 stall_at: Collection[int] = (), tokens_per_s: float | None = None):
        self.httpd = LoopbackHTTPServer((host, port), latency_s, garbage_rate, seed, mode, stall_s, stall_at,
                                        tokens_per_s)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> LoopbackServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="loopback-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m evolve.operators.server", description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds added to every reply")
    ap.add_argument("--tokens-per-s", type=float, default=None,
                    help="also wait as long as generating the reply at this many tokens a second would take")
    ap.add_argument("--garbage-rate", type=float, default=0.0, help="fraction of replies that are garbage")
    ap.add_argument("--seed", type=int, default=0, help="offline operator seed when a request has none")
    ap.add_argument("--mode", choices=MODES, default="offline", help="how the server answers (see above)")
    args = ap.parse_args(argv)
    if not 0.0 <= args.garbage_rate <= 1.0 or args.latency < 0 or (args.tokens_per_s or 1) <= 0:
        ap.error("--garbage-rate must be in [0, 1], --latency >= 0 and --tokens-per-s > 0")
    httpd = LoopbackHTTPServer((args.host, args.port), args.latency, args.garbage_rate, args.seed, args.mode,
                               tokens_per_s=args.tokens_per_s)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
