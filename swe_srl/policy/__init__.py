"""Policies: models that propose the next action, behind one small interface
(:class:`swe_srl.protocols.Policy`: ``generate -> list[Completion]``, token
counting, the context window, ``for_task``), and the tiny test model.

Backends are named by a prefix and imported lazily, so optional extras (vLLM)
stay optional:

==========================  ====================================================
``hf:PATH``                 transformers, a local model or LoRA adapter folder
``vllm:PATH``               the vLLM engine in this process (LoRA adapters too)
``openai:URL#MODEL``        any OpenAI-compatible server (``vllm serve`` ...)
``replay:TRAJ.jsonl``       replays the recorded actions of the matching instance
==========================  ====================================================

>>> load_policy("gpt:foo")
Traceback (most recent call last):
...
swe_srl.errors.ConfigError: unknown policy 'gpt:foo'; valid forms: hf:PATH, vllm:PATH, openai:URL#MODEL, replay:TRAJECTORIES.jsonl
"""

from __future__ import annotations

import importlib
from typing import Any

from swe_srl.errors import ConfigError
from swe_srl.protocols import Policy

# prefix -> (import path, the form shown in errors)
BACKENDS: dict[str, tuple[str, str]] = {
    "hf": ("swe_srl.policy.hf:HFPolicy", "hf:PATH"),
    "vllm": ("swe_srl.policy.vllm:VLLMPolicy", "vllm:PATH"),
    "openai": ("swe_srl.policy.openai:OpenAIPolicy", "openai:URL#MODEL"),
    "replay": ("swe_srl.policy.replay:ReplayPolicy", "replay:TRAJECTORIES.jsonl"),
}

_LAZY = {
    "SamplingConfig": "swe_srl.policy.base",
    "Completion": "swe_srl.protocols",
    "BasePolicy": "swe_srl.policy.base",
    "PolicyError": "swe_srl.policy.base",
    "bind": "swe_srl.policy.base",
}

__all__ = ["BACKENDS", "load_policy", "parse_spec", *_LAZY]


def _valid_forms() -> str:
    return ", ".join(form for _, form in BACKENDS.values())


def parse_spec(spec: str) -> tuple[str, str]:
    """``"hf:out/model"`` -> ``("hf", "out/model")``; the error lists the valid forms."""
    prefix, sep, target = str(spec).partition(":")
    if not sep or prefix not in BACKENDS:
        raise ConfigError(f"unknown policy {spec!r}; valid forms: {_valid_forms()}")
    if not target:
        raise ConfigError(f"policy {spec!r} names no target; expected {BACKENDS[prefix][1]}")
    return prefix, target


def load_policy(spec: str, **opts: Any) -> Policy:
    """Build the policy named by ``spec`` (``hf:PATH``, ``vllm:PATH``,
    ``openai:URL#MODEL`` or ``replay:TRAJ.jsonl``).

    ``opts`` are sampling settings (``temperature``, ``top_p``, ``max_tokens``,
    ``stop``, ``seed``) and the backend's own options (``adapter``, ``dtype``,
    ``timeout``, ``max_concurrency`` ...); an option the backend does not know
    is an error naming it.
    """
    prefix, target = parse_spec(spec)
    module, _, attr = BACKENDS[prefix][0].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    return cls.from_spec(target, **opts)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'swe_srl.policy' has no attribute {name!r}")
