"""The LLM client and the loopback server, over real HTTP through litellm."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from evolve import config as cfgmod
from evolve.config import LLM, ModelChoice
from evolve.operators.context import Parent
from evolve.operators.llm import LLMClient
from evolve.operators.offline.operator import respond
from evolve.operators.prompts import mutate
from evolve.operators.reply import parse_reply
from evolve.operators.server import GARBAGE, REQUEST_FIELD, LoopbackServer
from scoring.errors import InputError


def _prompt(task, personas):
    return mutate(personas[0], Parent(dict(task.seed_files), 2.45, "c1"), task)


def test_offline_call_record(task, personas):
    prompt = _prompt(task, personas)
    record = LLMClient().complete(prompt.text, request=prompt.request)
    assert record.ok and record.model == "offline" and record.cost_usd == 0.0
    assert record.tokens_in > 1000 and record.tokens_out > 10 and len(record.prompt_hash) == 64
    assert parse_reply(record.reply, task.seed_files).ok
    bare = LLMClient().complete(prompt.text)  # text alone: nothing to answer from, and no guess
    assert not bare.ok and bare.reply is None and "no Request" in bare.error


def test_loopback_through_litellm_records_tokens_and_matches_offline(task, personas, loopback):
    prompt = _prompt(task, personas)
    client = LLMClient(models=(ModelChoice(name="openai/offline", api_base=loopback.url),), seed=5)
    client.check()  # no OPENAI_API_KEY needed for a keyless api_base
    record = client.complete(prompt.text, request=prompt.request)
    assert record.ok, record.error
    assert record.model == "openai/offline" and record.attempts == 1 and record.latency_s > 0
    offline = LLMClient(seed=5).complete(prompt.text, request=prompt.request)
    assert record.tokens_in == offline.tokens_in
    assert record.reply == offline.reply  # the request and the seed travel over HTTP


def test_unknown_model_and_missing_key_are_input_errors(monkeypatch):
    with pytest.raises(InputError, match="unknown model 'no-such-model-xyz'"):
        LLMClient(models=(ModelChoice(name="no-such-model-xyz"),)).check()
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(InputError, match="ANTHROPIC_API_KEY"):
        LLMClient(models=(ModelChoice(name="anthropic/claude-3-5-sonnet-20240620"),)).check()
    with pytest.raises(InputError, match="models.0.weight: Input should be greater than 0"):
        cfgmod.validate({"models": [{"name": "offline", "weight": 0}]})


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_endpoint_is_a_recorded_error_after_retries():
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    client = LLMClient(LLM(retries=2, retry_backoff_s=0.01), (ModelChoice(name="openai/offline", api_base=url),))
    client.check()
    record = client.complete("hello")
    assert not record.ok and record.reply is None and "Connection" in record.error
    assert record.attempts == 3  # transient: retried


def test_non_transient_error_is_not_retried(loopback):
    bad = loopback.url.removesuffix("/v1") + "/nowhere"  # the server answers 404
    client = LLMClient(LLM(retries=3, retry_backoff_s=0.01), (ModelChoice(name="openai/offline", api_base=bad),))
    client.check()
    record = client.complete("hello")
    assert not record.ok and record.attempts == 1 and "no route" in record.error


def test_weighted_pick():
    client = LLMClient(models=(ModelChoice(name="offline", weight=3.0),
                               ModelChoice(name="openai/x", weight=1.0, api_base="http://h/v1")))
    picks = [client.pick(i / 100).name for i in range(100)]
    assert picks.count("offline") == 75 and picks.count("openai/x") == 25


def _post(url: str, body: bytes) -> tuple[int, dict]:
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def _chat(prompt, text: str | None = None) -> dict:
    """A chat request as the LLM client sends it to the loopback server: the messages and, beside them, the
    structured request."""
    return {"model": "offline", "messages": [{"role": "user", "content": prompt.text if text is None else text}],
            "seed": 3, REQUEST_FIELD: prompt.request.to_wire()}


def test_server_garbage_rate_usage_and_bad_requests(task, personas):
    with LoopbackServer(garbage_rate=1.0, seed=1) as server:
        request = _chat(_prompt(task, personas))
        status, payload = _post(server.url, json.dumps(request).encode())
        assert status == 200 and payload["choices"][0]["message"]["content"] in GARBAGE
        assert payload["usage"]["prompt_tokens"] > 1000
        assert _post(server.url, b"{not json")[0] == 400
        assert _post(server.url, json.dumps({**request, "stream": True}).encode())[0] == 400


def test_server_answers_from_the_structured_request_and_refuses_a_request_without_it(task, personas, loopback):
    prompt = _prompt(task, personas)
    status, payload = _post(loopback.url, json.dumps(_chat(prompt)).encode())
    assert status == 200
    assert payload["choices"][0]["message"]["content"] == respond(prompt.text, prompt.request, 3)
    # the prose is not what it reads: a chat whose text is anything still gets the request's answer
    status, payload = _post(loopback.url, json.dumps(_chat(prompt, text="Improve my model.")).encode())
    assert status == 200 and parse_reply(payload["choices"][0]["message"]["content"], task.seed_files).ok
    requests = loopback.httpd.requests
    prose_only = {"model": "offline", "messages": [{"role": "user", "content": prompt.text}]}
    status, payload = _post(loopback.url, json.dumps(prose_only).encode())
    assert status == 400 and f"no '{REQUEST_FIELD}' field" in payload["error"]["message"]
    broken = _chat(prompt)
    del broken[REQUEST_FIELD]["parent"]
    status, payload = _post(loopback.url, json.dumps(broken).encode())
    assert status == 400 and payload["error"]["message"] == (f"bad {REQUEST_FIELD}: request fields missing: "
                                                             "['parent']; unknown: none")
    assert loopback.httpd.requests == requests  # refused, not answered


class _Recorder(BaseHTTPRequestHandler):
    """Any OpenAI-compatible provider: keeps every request body, answers a fixed completion."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802
        self.server.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        body = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                                        "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_structured_request_goes_only_to_the_loopback_model(task, personas):
    prompt = _prompt(task, personas)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    httpd.bodies = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        for name in ("openai/gpt-4o-mini", "openai/offline"):
            client = LLMClient(LLM(retries=0), (ModelChoice(name=name, api_base=url),))
            client.check()
            record = client.complete(prompt.text, request=prompt.request)
            assert record.ok and record.reply == "hi", record.error
    finally:
        httpd.shutdown()
        httpd.server_close()
    real, ours = httpd.bodies
    assert real["model"] == "gpt-4o-mini" and real["messages"][0]["content"] == prompt.text
    assert REQUEST_FIELD not in real and not any(k.startswith("persona") for k in real)
    assert ours["model"] == "offline" and ours[REQUEST_FIELD] == json.loads(json.dumps(prompt.request.to_wire()))


def test_server_runs_as_a_module(tmp_path):
    import subprocess
    import sys
    import time

    port = _closed_port()
    proc = subprocess.Popen([sys.executable, "-m", "evolve.operators.server", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/v1/models")
                assert json.loads(conn.getresponse().read())["data"][0]["id"] == "offline"
                break
            except ConnectionRefusedError:
                assert proc.poll() is None and time.time() < deadline, proc.stderr.read()
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_misspelled_bare_model_is_refused_without_importing_litellm():
    """`offlne` is refused from litellm's model map read as a file: no litellm import (seconds), no network."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from evolve.config import ModelChoice\n"
            "from evolve.operators.llm import LLMClient\n"
            "from scoring.errors import InputError\n"
            "for name in ('offlne', 'gpt-4o-mnii'):\n"
            "    try:\n"
            "        LLMClient(models=(ModelChoice(name=name),)).check()\n"
            "    except InputError as e:\n"
            "        print(e)\n"
            "print('litellm imported' if 'litellm' in sys.modules else 'litellm not imported')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    offlne, mnii, imported = r.stdout.strip().splitlines()
    assert offlne == ("unknown model 'offlne': neither 'offline' nor a model litellm knows (give its provider: "
                      "openai/NAME, anthropic/NAME, ...); did you mean 'offline'?")
    assert mnii.startswith("unknown model 'gpt-4o-mnii'") and "did you mean 'gpt-4o-mini'" in mnii
    assert imported == "litellm not imported"


def test_the_fast_refusal_never_refuses_a_name_litellm_accepts():
    """Every bare name litellm lists, each with one letter dropped, and in capitals: whatever the fast check
    refuses, litellm refuses too (the names it lists it accepts are never refused)."""
    from evolve.operators.llm import clearly_unknown, litellm_module

    litellm = litellm_module()
    names = set(litellm.model_list) | set(litellm.model_cost)
    for attr in dir(litellm):
        value = getattr(litellm, attr)
        if attr.endswith("_models") and isinstance(value, (list, set, frozenset, tuple, dict)):
            names |= {n for n in value if isinstance(n, str)}
    bare = {n.rsplit("/", 1)[-1] for n in names}
    variants = bare | {n.upper() for n in bare} | {n[:i] + n[i + 1:] for n in bare for i in range(len(n))}

    def accepted(name: str) -> bool:
        try:
            litellm.get_llm_provider(name)
            return True
        except Exception:
            return False

    refused = [n for n in sorted(variants) if clearly_unknown(n)]
    assert len(refused) > len(variants) // 2  # the fast path does decide most misspellings
    assert not [n for n in refused if accepted(n)]
    assert not clearly_unknown("gpt-4o-mini") and not clearly_unknown("offline")
    assert not clearly_unknown("offlne", api_base="http://127.0.0.1:1/v1")  # a server's own names: litellm's call


def test_a_misspelled_provider_is_refused_whole_with_a_suggestion():
    with pytest.raises(InputError) as e:
        LLMClient(models=(ModelChoice(name="opnai/gpt-4o-mini"),)).check()
    assert str(e.value).startswith("unknown model 'opnai/gpt-4o-mini': litellm knows no provider 'opnai'; did you "
                                   "mean ") and "'openai/gpt-4o-mini'" in str(e.value), e.value
