"""The step-wise prompt: what the policy sees before each action, and the one
place that decides it.

:class:`PromptConfig` holds every setting of the prompt (rounds shown, the
observation cap, thoughts, the token budget and the order in which a prompt
over budget is cut); :func:`fit_prompt` is the one function that turns a task
and the steps so far into the chat. ``swe-srl dataset`` builds every training
row with it (and records its PromptConfig in ``stats.json``), the agent loop
builds every prompt with it at test time, and greedy validation and
``swe-srl score`` read the dataset prompts it built, so a model is always
asked in the form it was trained on. :func:`prompt_config_for_model` finds the
PromptConfig a trained model was trained with.

The chat is two messages:

* ``system``: :data:`SYSTEM_PROMPT`, the response format (a ``<think>``
  monologue, then exactly one SWE-agent XML function call) and the tools;
* ``user``: the task, then the last ``context_steps`` rounds (the action's
  canonical rendering and its observation, cut head-and-tail), then a short
  instruction for the next step.

As in the SRL paper (Deng et al. 2025), the context holds the issue plus the
last rounds of expert *actions and observations*; earlier thoughts are not
shown by default (only the action is scored, and the policy writes its own
monologue).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from pydantic import ConfigDict, Field, field_validator

from swe_srl.config import Config
from swe_srl.errors import ConfigError
from swe_srl.formats import DATASET_STATS, PROMPT_CONFIG, TRAIN_CONFIG
from swe_srl.text import truncate_middle
from swe_srl.trajectories.models import Step

SYSTEM_PROMPT = """\
You are a software engineer fixing an issue in a repository checked out at /testbed.
You work one step at a time: at each step you see the task and your most recent
actions with their outputs, and you choose the single next action.

Response format (exactly this, nothing after the function call):
<think>
your reasoning about what to do next
</think>
<function=TOOL_NAME>
<parameter=PARAM_NAME>value</parameter>
</function>

Write exactly ONE function call per response. Parameter values are raw text
(no quoting or escaping); they may span several lines.

Tools:
1. bash: run a shell command in /testbed (a persistent session; no interactive programs).
   Parameters: command (required): the command line to run.
2. str_replace_editor: view, create and edit files.
   Parameters:
   - command (required): one of view, create, str_replace, insert, undo_edit.
   - path (required): absolute path of a file or directory, e.g. /testbed/setup.py.
   - file_text: the content of the file, for create.
   - old_str: the exact text to replace, for str_replace (it must occur exactly once).
   - new_str: the replacement text for str_replace, or the text to insert for insert.
   - insert_line: for insert, the line number after which new_str is inserted.
   - view_range: for view of a file, optional [start_line, end_line] (end -1 = to the end).
3. submit: submit the current changes in the repository as the final patch. No parameters."""

NEXT_STEP_INSTRUCTION = (
    "Choose the next action. Think inside <think>...</think>, then write exactly one function call."
)

NO_OUTPUT = "(no output)"

PROMPT_CONFIG_FILE = PROMPT_CONFIG.file
"""Where a training output folder records the PromptConfig its model was trained with."""

TruncationStep = Literal["oldest_rounds", "observations", "last_round", "task"]


class PromptConfig(Config):
    """How the step-wise prompt is built and fitted to a token budget (one contract
    for ``swe-srl dataset``, the agent, greedy validation and ``swe-srl score``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    context_steps: int = Field(2, ge=0, description="Past rounds (action + observation) shown in the prompt.")
    max_observation_chars: int = Field(
        4000, gt=0, description="Each shown observation longer than this is cut head-and-tail with a marker.")
    thoughts: Literal["omit", "show"] = Field(
        "omit", description="omit: past rounds show the action and observation only (the SRL paper); "
                            "show: each round also shows the thought written with its action.")
    max_prompt_tokens: int | None = Field(
        None, gt=0, description="Token budget of the prompt (chat template and generation prompt included); "
                                "None: no budget (the agent still fits the model's context window).")
    truncation_order: tuple[TruncationStep, ...] = Field(
        ("oldest_rounds", "observations", "last_round", "task"),
        description="How a prompt over budget is cut, in order: oldest_rounds (drop the oldest rounds, keeping "
                    "the most recent), observations (halve the observation cap, down to min_chars), last_round "
                    "(drop the remaining rounds), task (halve the task text, down to min_chars).")
    min_chars: int = Field(256, gt=0, description="The smallest observation or task-text cap tried under a budget.")

    @field_validator("truncation_order")
    @classmethod
    def _unique(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError("each step may appear once")
        return v

    @classmethod
    def from_dict(cls, data: Any, source: str = "prompt config", names: dict[str, str] | None = None) -> "PromptConfig":
        """Validate ``data``; a bad key or value is a one-line :class:`ConfigError`
        naming ``source`` and the field (as ``names`` calls it, e.g. a CLI flag).

        >>> PromptConfig.from_dict({"context_step": 3}, "x.json")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        swe_srl.errors.ConfigError: x.json: context_step: unknown key; valid: context_steps, ...; did you mean context_steps?
        """
        return super().from_dict(data, source, names)


DEFAULT_PROMPT_CONFIG = PromptConfig()


def render_round(step: Step, index: int, *, max_observation_chars: int = DEFAULT_PROMPT_CONFIG.max_observation_chars,
                 thoughts: str = DEFAULT_PROMPT_CONFIG.thoughts) -> str:
    """One past round: (the thought,) the action's canonical rendering and its observation."""
    observation = step.observation if step.observation.strip() else NO_OUTPUT
    observation = truncate_middle(observation, max_observation_chars)
    thought = ""
    if thoughts == "show" and step.thought.strip():
        thought = f"<thought>\n{step.thought.strip()}\n</thought>\n"
    return (
        f"<step index=\"{index}\">\n"
        f"{thought}"
        f"<action>\n{step.action.render()}\n</action>\n"
        f"<observation>\n{observation}\n</observation>\n"
        f"</step>"
    )


def build_user_message(
    problem_statement: str,
    history: Sequence[Step],
    *,
    context_steps: int = DEFAULT_PROMPT_CONFIG.context_steps,
    max_observation_chars: int = DEFAULT_PROMPT_CONFIG.max_observation_chars,
    max_problem_chars: int | None = None,
    thoughts: str = DEFAULT_PROMPT_CONFIG.thoughts,
) -> str:
    """The user turn's text (see :func:`build_prompt`)."""
    problem = problem_statement.strip() or "(no task description)"
    if max_problem_chars is not None:
        problem = truncate_middle(problem, max_problem_chars)
    parts = [f"<task>\n{problem}\n</task>"]
    n = len(history)
    k = max(0, min(context_steps, n))
    if n == 0:
        parts.append("No actions have been taken yet.")
    else:
        shown = "the last one is" if k == 1 else f"the last {k} are"
        if k == 0:
            parts.append(f"{n} action{'s' if n != 1 else ''} taken so far (not shown).")
        elif k == n:
            parts.append(f"Actions taken so far ({n}):")
        else:
            parts.append(f"{n} actions taken so far; {shown} shown below.")
        for i in range(n - k, n):
            parts.append(render_round(history[i], i + 1, max_observation_chars=max_observation_chars, thoughts=thoughts))
    parts.append(NEXT_STEP_INSTRUCTION)
    return "\n\n".join(parts)


def build_prompt(
    problem_statement: str,
    history: Sequence[Step],
    *,
    context_steps: int = DEFAULT_PROMPT_CONFIG.context_steps,
    max_observation_chars: int = DEFAULT_PROMPT_CONFIG.max_observation_chars,
    max_problem_chars: int | None = None,
    thoughts: str = DEFAULT_PROMPT_CONFIG.thoughts,
    system_prompt: str = SYSTEM_PROMPT,
) -> list[dict[str, Any]]:
    """The chat for the next action, ``[system, user]``, with no token budget
    (:func:`fit_prompt` is the contract; this is its renderer).

    ``history`` is every step taken so far (expert steps when building data,
    the agent's own steps at test time); only the last ``context_steps`` are
    shown, each observation cut to ``max_observation_chars`` (head and tail,
    with an explicit marker). ``max_problem_chars`` optionally cuts the task
    text the same way (used only as a last resort under a token budget).

    >>> from swe_srl.trajectories import Action, Step
    >>> msgs = build_prompt("Fix the bug.", [Step(Action("bash", {"command": "ls"}), observation="a.py")])
    >>> [m["role"] for m in msgs]
    ['system', 'user']
    >>> "<parameter=command>ls</parameter>" in msgs[1]["content"]
    True
    """
    return [
        {"role": "system", "content": system_prompt},
        {
            "role": "user",
            "content": build_user_message(
                problem_statement,
                history,
                context_steps=context_steps,
                max_observation_chars=max_observation_chars,
                max_problem_chars=max_problem_chars,
                thoughts=thoughts,
            ),
        },
    ]


Messages = list[dict[str, Any]]
TokenCount = Callable[[Messages], "int | None"]


@dataclass
class FittedPrompt:
    """A prompt and what fitting it cost: ``truncation`` is recorded per dataset row."""

    prompt: Messages
    tokens: int | None
    """Prompt tokens as counted (None without a counter or a budget)."""
    truncation: dict[str, Any]
    """rounds_shown, rounds_dropped, observation_chars, observations_cut, problem_chars (-1: not cut)."""
    fits: bool
    """False when the prompt is still over budget after every cut."""


def fit_prompt(
    problem_statement: str,
    history: Sequence[Step],
    config: PromptConfig = DEFAULT_PROMPT_CONFIG,
    count: TokenCount | None = None,
    *,
    budget: int | None = None,
) -> FittedPrompt:
    """The prompt for the next step: :func:`build_prompt` under ``config``, cut to
    its token budget when ``count`` (chat messages -> prompt tokens, chat
    template and generation prompt included) is given.

    ``budget`` overrides ``config.max_prompt_tokens`` (the agent passes the
    smaller of it and what the model's context window leaves). Over budget, the
    steps of ``config.truncation_order`` apply in turn until the prompt fits;
    the result depends only on the texts, the config and the counts, so the
    dataset and the agent, given the same steps and counter, build the same
    prompt byte for byte. A counter that returns None (a server that cannot
    tokenize) leaves the prompt uncut.

    >>> from swe_srl.trajectories import Action, Step
    >>> steps = [Step(Action("bash", {"command": f"cat f{i}"}), observation="x" * 900) for i in range(3)]
    >>> words = lambda msgs: sum(len(m["content"]) for m in msgs) // 4
    >>> fit_prompt("Fix it.", steps, PromptConfig(max_prompt_tokens=900), words).truncation["rounds_shown"]
    1
    """
    limit = config.max_prompt_tokens if budget is None else budget
    n = len(history)
    wanted = min(config.context_steps, n)
    k, cap, problem_cap = wanted, config.max_observation_chars, None

    def make() -> Messages:
        return build_prompt(problem_statement, history, context_steps=k, max_observation_chars=cap,
                            max_problem_chars=problem_cap, thoughts=config.thoughts)

    prompt = make()
    tokens = count(prompt) if count is not None and limit is not None else None

    def over() -> bool:
        return tokens is not None and limit is not None and tokens > limit

    def recount() -> None:
        nonlocal prompt, tokens
        prompt = make()
        tokens = count(prompt)  # type: ignore[misc]

    low = config.min_chars
    for step in config.truncation_order:
        if not over():
            break
        if step == "oldest_rounds":
            while over() and k > 1:
                k -= 1
                recount()
        elif step == "observations" and k:
            longest = max(len(s.observation) for s in history[n - k:])
            cap = min(cap, max(longest, low))
            while over() and cap > low:
                cap = max(low, cap // 2)
                recount()
        elif step == "last_round" and k:
            k, cap = 0, config.max_observation_chars
            recount()
        elif step == "task":
            problem_cap = len(problem_statement)
            while over() and problem_cap > low:
                problem_cap = max(low, problem_cap // 2)
                recount()
    if k == 0:
        cap = config.max_observation_chars
    truncation = {
        "rounds_shown": k,
        "rounds_dropped": wanted - k,
        "observation_chars": cap,
        "observations_cut": sum(1 for s in history[n - k:] if len(s.observation) > cap) if k else 0,
        "problem_chars": problem_cap if problem_cap is not None else -1,
    }
    return FittedPrompt(prompt, tokens, truncation, not over())


def prompt_config_from_stats(stats: Any, source: str) -> PromptConfig:
    """The PromptConfig a dataset's ``stats.json`` records (``prompt_config``; datasets
    written before it existed have the same settings under ``config``)."""
    if not isinstance(stats, dict):
        raise ConfigError(f"{source}: not a JSON object")
    if "prompt_config" in stats:
        return PromptConfig.from_dict(stats["prompt_config"], f"{source}: prompt_config")
    legacy = stats.get("config") if isinstance(stats.get("config"), dict) else {}
    fields = {k: legacy[k] for k in ("context_steps", "max_observation_chars", "max_prompt_tokens") if k in legacy}
    return PromptConfig.from_dict(fields, f"{source}: config")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read JSON ({e})") from None


def _dataset_of(config_yaml: Path) -> Path | None:
    """The dataset folder a training ``config.yaml`` names (as written, else next to the file)."""
    import yaml

    try:
        cfg = yaml.safe_load(config_yaml.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{config_yaml}: cannot read YAML ({str(e).splitlines()[0]})") from None
    dataset = cfg.get("dataset") if isinstance(cfg, dict) else None
    if not isinstance(dataset, str) or not dataset:
        return None
    p = Path(dataset).expanduser()
    for candidate in ([p] if p.is_absolute() else [p, config_yaml.parent / p]):
        if (candidate / DATASET_STATS.file).is_file():
            return candidate
    return None


def prompt_config_for_model(path: str | Path) -> tuple[PromptConfig, str]:
    """``(PromptConfig, source)``: the prompt settings a trained model was trained with.

    ``path`` is a model or LoRA adapter folder (or a checkpoint), or the
    training output folder holding it. Looked up in ``path`` and then its
    parents (two levels up), first of all: ``prompt_config.json`` (written by
    training), then the training ``config.yaml``'s ``dataset`` and that
    dataset's ``stats.json``, then a dataset folder's own ``stats.json``.
    Without any of them, the defaults, and ``source`` says so. A file that is
    there but invalid is a :class:`ConfigError` naming it.
    """
    start = Path(path).expanduser()
    dirs = [start, *list(start.parents)[:2]] if start.is_dir() else list(start.parents)[:3]
    for d in dirs:
        f = d / PROMPT_CONFIG_FILE
        if f.is_file():
            data = _read_json(f)
            origin = data.pop("source", None) if isinstance(data, dict) else None  # where training took it from
            return PromptConfig.from_dict(data, str(f)), str(f) + (f" (from {origin})" if origin else "")
    for d in dirs:
        f = d / TRAIN_CONFIG.file
        if f.is_file():
            dataset = _dataset_of(f)
            if dataset is not None:
                stats = dataset / DATASET_STATS.file
                return prompt_config_from_stats(_read_json(stats), str(stats)), f"{stats} (the dataset {f} names)"
    for d in dirs:
        f = d / DATASET_STATS.file
        if f.is_file():
            return prompt_config_from_stats(_read_json(f), str(f)), str(f)
    return DEFAULT_PROMPT_CONFIG, f"defaults (no {PROMPT_CONFIG_FILE}, training config.yaml or stats.json at {start} or above)"


def format_completion(thought: str, action_rendering: str) -> str:
    """The assistant text the policy should produce: ``<think>THOUGHT</think>\\nACTION``.

    Think tags already in the thought (some agents log their raw reasoning
    with them) are removed, so the completion has exactly one think block.

    >>> format_completion("<think>look</think>", "<function=submit>\\n</function>")
    '<think>look</think>\\n<function=submit>\\n</function>'
    """
    thought = thought.replace("<think>", "").replace("</think>", "").strip()
    return f"<think>{thought}</think>\n{action_rendering}"
