"""The policy factory's errors, and the OpenAI-compatible client's retries,
timeouts and concurrency cap against a local HTTP server that misbehaves on
purpose (a real server cannot be made to fail on cue)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from swe_srl.errors import ConfigError
from swe_srl.policy import load_policy, parse_spec
from swe_srl.policy.base import PolicyError, SamplingConfig

MESSAGES = [{"role": "user", "content": "hi"}]


def test_spec_errors_list_the_valid_forms():
    with pytest.raises(ConfigError, match=r"valid forms: hf:PATH, vllm:PATH, openai:URL#MODEL, replay:"):
        parse_spec("gpt4")
    with pytest.raises(ConfigError, match="names no target; expected hf:PATH"):
        parse_spec("hf:")
    with pytest.raises(ConfigError, match="unknown option"):
        load_policy("openai:http://127.0.0.1:9/v1#m", bogus=1)
    with pytest.raises(ConfigError, match="not an http"):
        load_policy("openai:localhost:8000#m")
    with pytest.raises(ConfigError, match="invalid sampling"):
        SamplingConfig.from_options({"temperature": -1})


def test_model_backends_reject_folders_that_are_not_models(tmp_path):
    from swe_srl.errors import SweSrlError

    with pytest.raises(SweSrlError, match="no such model directory"):
        load_policy(f"hf:{tmp_path}/none")
    with pytest.raises(SweSrlError, match="neither a model"):
        load_policy(f"hf:{tmp_path}")
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "missing-base"}))
    with pytest.raises(SweSrlError, match="not a local model directory"):
        load_policy(f"hf:{tmp_path}")


class Flaky:
    """An OpenAI-style server: fails the first ``fail`` requests with ``status``,
    sleeps ``delay`` seconds per request, and records the peak concurrency."""

    def __init__(self, fail=0, status=503, delay=0.0):
        self.fail, self.status, self.delay = fail, status, delay
        self.requests, self.active, self.peak, self.model_requests = 0, 0, 0, 0
        self.lock = threading.Lock()
        self.bodies = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):  # /v1/models, as vLLM answers it (with the context length)
                with outer.lock:
                    outer.model_requests += 1
                time.sleep(outer.delay)
                data = json.dumps({"data": [{"id": "m", "max_model_len": 4096}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.requests += 1
                    n = outer.requests
                    outer.active += 1
                    outer.peak = max(outer.peak, outer.active)
                    outer.bodies.append(body)
                try:
                    time.sleep(outer.delay)
                    if n <= outer.fail:
                        data, code = json.dumps({"error": {"message": "overloaded"}}).encode(), outer.status
                    else:
                        choices = [{"index": i, "message": {"role": "assistant", "content": f"<think>t</think><function=submit>"},
                                    "finish_reason": "stop"} for i in range(body["n"])]
                        data, code = json.dumps({"choices": choices, "usage": {"prompt_tokens": 7, "completion_tokens": 5 * body["n"]}}).encode(), 200
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout test)
                finally:
                    with outer.lock:
                        outer.active -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def flaky(request):
    servers = []

    def make(**kw):
        s = Flaky(**kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def test_transient_errors_are_retried_with_backoff(flaky):
    server = flaky(fail=2, status=503)
    policy = load_policy(f"openai:{server.url}#m", backoff=0.05, max_retries=3, max_tokens=9)
    t0 = time.monotonic()
    [c] = policy.generate(MESSAGES, 1)
    assert server.requests == 3 and time.monotonic() - t0 >= 0.05
    # the stop string the server cut is restored; usage is reported
    assert c.text == "<think>t</think><function=submit></function>"
    assert (c.prompt_tokens, c.completion_tokens, c.finish_reason) == (7, 5, "stop")
    assert server.bodies[-1]["max_tokens"] == 9 and server.bodies[-1]["stop"] == ["</function>"]


def test_client_errors_are_not_retried_and_retries_are_bounded(flaky):
    bad = flaky(fail=5, status=400)
    with pytest.raises(PolicyError, match="HTTP 400: overloaded"):
        load_policy(f"openai:{bad.url}#m", backoff=0.01).generate(MESSAGES)
    assert bad.requests == 1
    down = flaky(fail=10, status=503)
    with pytest.raises(PolicyError, match="after 3 attempts: HTTP 503"):
        load_policy(f"openai:{down.url}#m", backoff=0.01, max_retries=2).generate(MESSAGES)
    assert down.requests == 3


def test_timeouts_and_the_concurrency_cap(flaky):
    slow = flaky(delay=1.5)
    with pytest.raises(PolicyError, match="after 1 attempts"):
        load_policy(f"openai:{slow.url}#m", timeout=0.3, max_retries=0).generate(MESSAGES)
    server = flaky(delay=0.2)
    policy = load_policy(f"openai:{server.url}#m", max_concurrency=2)
    threads = [threading.Thread(target=policy.generate, args=(MESSAGES, 2)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.requests == 6 and server.peak == 2


def test_workers_sharing_a_policy_all_see_its_context(flaky):
    """Agent workers share one policy: a worker asking for the context while another is still
    probing the server must wait for the answer, not take "unknown" and send whole files
    (the demo's oracle-edit runs were refused as over the context this way)."""
    server = flaky(delay=0.3)
    policy = load_policy(f"openai:{server.url}#m")
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(policy.max_context)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [4096] * 4 and server.model_requests == 1
