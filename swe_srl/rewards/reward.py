"""The SRL step reward, as a TRL reward function.

``srl_reward(completions, expert_action, **kwargs) -> list[float]``:

* ``-1.0`` when a completion is not ``<think>...</think>`` followed by exactly
  one parsable function call (:func:`swe_srl.rewards.format.parse_response`),
  or calls a tool that is neither one the prompt offers
  (:data:`~swe_srl.trajectories.models.CANONICAL_TOOLS`) nor the expert's own;
* otherwise the similarity (:mod:`swe_srl.rewards.similarity`, difflib's ratio
  by default) between the *canonical rendering* of the parsed action and
  ``expert_action`` (itself a canonical rendering, as ``swe-srl dataset``
  writes it). Canonicalising first means parameter order, layout, ``\\r\\n`` and
  spacing slips cost nothing. ``compare="raw"`` scores the call exactly as the
  model wrote it instead, as the paper did;
* a degenerate action (empty command, editor call without command or path,
  all-blank arguments) scores ``0.0``, the floor of the similarity range, so it
  never beats a real attempt.

TRL calls reward functions with ``prompts``, ``completions``, ``completion_ids``
and every dataset column as keyword lists; completions are strings (standard
datasets) or ``[{"role": "assistant", "content": ...}]`` lists
(conversational datasets). Both work here.

>>> expert = "<function=bash>\\n<parameter=command>ls -la</parameter>\\n</function>"
>>> good = "<think>look around</think>\\n<function=bash>\\n<parameter=command>ls -la</parameter>\\n</function>"
>>> close = [{"role": "assistant", "content": "<think>x</think><function=bash><parameter=command>ls</parameter></function>"}]
>>> srl_reward([good, close, "just ls", "<think>t</think><function=bash><parameter=command> </parameter></function>"],
...            expert_action=[expert] * 4)
[1.0, 0.9682539682539683, -1.0, 0.0]
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from swe_srl.errors import FormatError
from swe_srl.rewards.format import function_name, is_degenerate, parse_response
from swe_srl.rewards.similarity import SimilarityFn, batch_similarity, get_similarity
from swe_srl.trajectories.models import CANONICAL_TOOLS

__all__ = ["srl_reward", "make_srl_reward", "score_response", "completion_text", "FORMAT_FAILURE_REWARD", "DEGENERATE_REWARD"]

FORMAT_FAILURE_REWARD = -1.0
DEGENERATE_REWARD = 0.0
COMPARE_MODES = ("canonical", "raw")


def completion_text(completion: Any) -> str:
    """The text of one completion: a string, a message dict, or a list of
    messages (the assistant contents are joined).

    >>> completion_text([{"role": "assistant", "content": "hi"}])
    'hi'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content(completion.get("content"))
    if isinstance(completion, (list, tuple)):
        parts = [_content(m.get("content")) for m in completion if isinstance(m, dict) and m.get("role", "assistant") == "assistant"]
        return "".join(parts)
    return "" if completion is None else str(completion)


def _content(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # typed content blocks
        return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content)


def _action_string(text: str, compare: str, expert: str) -> tuple[str | None, float | None]:
    """(string to compare with the expert, or None; fixed reward, or None) for one response."""
    try:
        expert_tool = function_name(expert)
        parsed = parse_response(text, CANONICAL_TOOLS + ((expert_tool,) if expert_tool else ()))
    except FormatError:
        return None, FORMAT_FAILURE_REWARD
    rendered = parsed.action.render()
    if parsed.action.raw.strip() == expert.strip() or (compare == "canonical" and rendered == expert):
        return expert, None  # the expert's action (even an odd one, such as an empty command): a perfect answer
    if is_degenerate(parsed.action):
        return None, DEGENERATE_REWARD
    if compare == "raw":
        return parsed.action.raw, None
    return rendered, None


def score_response(text: str, expert_action: str, *, similarity: str | SimilarityFn = "difflib", compare: str = "canonical") -> float:
    """The reward of one response text against one expert action.

    >>> score_response("<think></think><function=submit></function>", "<function=submit>\\n</function>")
    1.0
    """
    return srl_reward([text], [expert_action], similarity=similarity, compare=compare)[0]


def srl_reward(
    completions: Sequence[Any],
    expert_action: Sequence[str],
    *,
    similarity: str | SimilarityFn = "difflib",
    compare: str = "canonical",
    **kwargs: Any,
) -> list[float]:
    """One reward per completion (see the module docstring).

    ``similarity``: ``difflib`` (exact, default), ``difflib-stdlib`` or ``indel``
    (faster, not identical), or a callable ``f(pred, expert) -> float``.
    ``compare``: ``canonical`` (default) or ``raw``. Other keyword arguments
    (TRL's ``prompts``, ``completion_ids``, dataset columns, ``trainer_state``,
    ``log_metric``...) are accepted and ignored, except ``log_metric``, which
    receives the format-failure rate.
    """
    if compare not in COMPARE_MODES:
        raise ValueError(f"compare must be one of {COMPARE_MODES}, not {compare!r}")
    if len(completions) != len(expert_action):
        raise ValueError(f"{len(completions)} completions but {len(expert_action)} expert actions")
    get_similarity(similarity)  # validate the name
    rewards: list[float] = []
    preds: list[str] = []
    experts: list[str] = []
    where: list[int] = []
    failures = degenerate = 0
    for i, (completion, expert) in enumerate(zip(completions, expert_action)):
        expert = str(expert)
        action, fixed = _action_string(completion_text(completion), compare, expert)
        if action is None:
            rewards.append(float(fixed))  # type: ignore[arg-type]
            failures += fixed == FORMAT_FAILURE_REWARD
            degenerate += fixed == DEGENERATE_REWARD
            continue
        rewards.append(0.0)
        preds.append(action)
        experts.append(expert)
        where.append(i)
    for i, value in zip(where, batch_similarity(preds, experts, similarity)):
        rewards[i] = float(value)
    log_metric = kwargs.get("log_metric")
    if callable(log_metric) and rewards:
        log_metric("srl/format_failure_rate", failures / len(rewards))
        log_metric("srl/degenerate_rate", degenerate / len(rewards))
    return rewards


def make_srl_reward(*, similarity: str | SimilarityFn = "difflib", compare: str = "canonical") -> Callable[..., list[float]]:
    """:func:`srl_reward` with fixed options, named ``srl_reward`` for TRL's logs.

    >>> f = make_srl_reward(similarity="indel")
    >>> f.__name__, f(["<think></think><function=submit></function>"], expert_action=["<function=submit>\\n</function>"])
    ('srl_reward', [1.0])
    """
    get_similarity(similarity)  # validate early
    if compare not in COMPARE_MODES:
        from swe_srl.errors import ConfigError

        raise ConfigError(f"srl.compare must be one of {', '.join(COMPARE_MODES)}, not {compare!r}")

    def srl_reward_fn(completions: Sequence[Any], expert_action: Sequence[str], **kwargs: Any) -> list[float]:
        return srl_reward(completions, expert_action, similarity=similarity, compare=compare, **kwargs)

    srl_reward_fn.__name__ = "srl_reward"
    srl_reward_fn.__qualname__ = "srl_reward"
    return srl_reward_fn
