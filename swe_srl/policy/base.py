"""What every policy backend shares: sampling settings, a small base class,
and helpers.

The seam itself is :class:`swe_srl.protocols.Policy` (``generate(messages, n)
-> list[Completion]``, ``count_tokens``, ``max_context``, ``max_new_tokens``,
``for_task``, ``describe``, ``close``). Backends derive from
:class:`BasePolicy`, implement :meth:`BasePolicy.generate` (texts plus token
counts, which the agent needs for its token limit) and override what they
know (a token counter, the context window).

A policy that needs to know which task it is working on (the replay policy)
overrides ``for_task(task) -> Policy``; :func:`bind` calls it once per
episode, so the per-task state lives in a fresh object and a shared policy
stays stateless and thread-safe.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field

from swe_srl.config import Config
from swe_srl.errors import SweSrlError
from swe_srl.protocols import Completion, Policy

__all__ = ["BasePolicy", "Completion", "DEFAULT_STOP", "PolicyError", "SamplingConfig", "bind", "check_messages",
           "complete_stop", "estimate_tokens", "resolve_model_dir"]

# The action ends the response: stopping there keeps generations short and
# guarantees at most one function call reaches the parser.
DEFAULT_STOP = ("</function>",)


class PolicyError(SweSrlError):
    """The policy could not answer (server down after retries, model failure)."""


def _stop(value: Any) -> Any:
    return (value,) if isinstance(value, str) else (() if value is None else value)


class SamplingConfig(Config):
    """How candidates are sampled; every backend honours every field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(1.0, ge=0, description="0 means greedy decoding.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling: the smallest token set of this probability.")
    max_tokens: int = Field(512, ge=1, description="Cap on generated tokens per candidate.")
    stop: Annotated[tuple[str, ...], BeforeValidator(_stop)] = Field(
        DEFAULT_STOP, description="Generation ends after the first of these strings (kept in the text).")
    seed: int | None = Field(None, description="Makes sampling reproducible where the backend allows it.")

    @classmethod
    def from_options(cls, opts: dict[str, Any]) -> tuple["SamplingConfig", dict[str, Any]]:
        """Split keyword options into a SamplingConfig and the backend's own options."""
        mine = {k: v for k, v in opts.items() if k in cls.model_fields}
        rest = {k: v for k, v in opts.items() if k not in cls.model_fields}
        return cls.from_dict(mine, "invalid sampling settings"), rest

    def replace(self, **overrides: Any) -> "SamplingConfig":
        """A copy with ``overrides`` validated (an unknown name is a one-line ConfigError)."""
        return self.from_dict({**self.model_dump(), **overrides}, "sampling override") if overrides else self


class BasePolicy:
    """Common behaviour: the neutral parts of :class:`~swe_srl.protocols.Policy`
    (no token counter, no known window, ``for_task`` returning ``self``),
    ``propose`` on top of ``generate``, a description for saved outputs, and a
    lock for backends whose model is not thread-safe."""

    name = "base"

    def __init__(self, sampling: SamplingConfig | None = None):
        self.sampling = sampling or SamplingConfig()
        self._lock = threading.Lock()

    def generate(self, messages: list[dict[str, Any]], n: int = 1, **overrides: Any) -> list[Completion]:
        """``n`` completions for the chat ``messages``; ``overrides`` replace
        sampling fields for this call (e.g. ``max_tokens=64``)."""
        raise NotImplementedError

    def propose(self, messages: list[dict[str, Any]], n: int = 1) -> list[str]:
        return [c.text for c in self.generate(messages, n)]

    def count_tokens(self, messages: list[dict[str, Any]]) -> int | None:
        """Prompt length in tokens, or None when the backend cannot tell cheaply."""
        return None

    @property
    def max_context(self) -> int | None:
        """The model's context window in tokens, when known."""
        return None

    @property
    def max_new_tokens(self) -> int:
        """Tokens a completion may take (the sampling settings' ``max_tokens``)."""
        return self.sampling.max_tokens

    def for_task(self, task: dict[str, Any]) -> "Policy":
        """The policy for one episode on ``task``: itself, unless the backend is task-aware."""
        return self

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "sampling": self.sampling.to_dict()}

    def close(self) -> None:
        """Release the model / connections. Idempotent."""

    def __enter__(self) -> "BasePolicy":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _sampling(self, overrides: dict[str, Any]) -> SamplingConfig:
        return self.sampling.replace(**overrides)


def check_messages(messages: Any) -> list[dict[str, Any]]:
    """A chat must be a non-empty list of {role, content} dicts."""
    if not isinstance(messages, list) or not messages:
        raise SweSrlError("messages must be a non-empty list of chat messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or not isinstance(m.get("content"), str):
            raise SweSrlError(f"messages[{i}] is not a {{role, content}} message")
    return messages


def complete_stop(text: str, stop: tuple[str, ...], stopped: bool, which: str | None = None) -> str:
    """Re-append the stop string a backend cut off (OpenAI servers drop it), so
    every backend returns the same text for the same generation. ``which`` is
    the stop string that fired when the server says (vLLM's ``stop_reason``);
    otherwise an unclosed function call is closed.

    >>> complete_stop("<think>x</think><function=submit>", ("</function>",), True)
    '<think>x</think><function=submit></function>'
    >>> complete_stop("abc", ("X", "Y"), True, which="Y")
    'abcY'
    >>> complete_stop("<think>x", ("</function>",), False)
    '<think>x'
    """
    if not stopped or not stop or any(text.endswith(s) for s in stop):
        return text
    if which is not None:
        return text + which if which in stop else text
    if "</function>" in stop and "<function" in text:
        return text + "</function>"
    return text


def estimate_tokens(text: str) -> int:
    """A rough token count (4 characters a token) for backends that report none."""
    return max(1, len(str(text)) // 4) if text else 0


def resolve_model_dir(path: str | Path) -> tuple[Path, Path | None]:
    """``(base_model_dir, adapter_dir | None)`` for a model or LoRA adapter folder.

    An adapter folder (``adapter_config.json``) names its base model in
    ``base_model_name_or_path``; a relative name is looked up next to the adapter.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise SweSrlError(f"{p}: no such model directory")
    if not p.is_dir():
        raise SweSrlError(f"{p}: not a directory (expected a model or LoRA adapter folder)")
    adapter_cfg = p / "adapter_config.json"
    if adapter_cfg.is_file():
        try:
            base = json.loads(adapter_cfg.read_text())["base_model_name_or_path"]
        except (ValueError, KeyError, TypeError):
            raise SweSrlError(f"{adapter_cfg}: no base_model_name_or_path") from None
        base_path = Path(base)
        if not base_path.is_absolute() and not base_path.exists():
            base_path = (p / base).resolve()
        if not (base_path / "config.json").is_file():
            raise SweSrlError(f"{adapter_cfg}: base model {base!r} is not a local model directory")
        return base_path, p
    if not (p / "config.json").is_file():
        raise SweSrlError(f"{p}: neither a model (config.json) nor a LoRA adapter (adapter_config.json)")
    return p, None


def bind(policy: Policy, task: dict[str, Any]) -> Policy:
    """The policy to use for one episode on ``task`` (``policy.for_task(task)``)."""
    return policy.for_task(task)
