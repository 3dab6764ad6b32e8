"""The step-wise prompt: what the policy sees before each action.

One function, :func:`build_prompt`, shared by dataset building (``swe-srl
dataset``) and by the agent at test time, so training and inference see the
same text. The chat is two messages:

* ``system``: :data:`SYSTEM_PROMPT`, the response format (a ``<think>``
  monologue, then exactly one SWE-agent XML function call) and the tools;
* ``user``: the task, then the last ``context_steps`` rounds (the action's
  canonical rendering and its observation, cut head-and-tail), then a short
  instruction for the next step.

As in the SRL paper (Deng et al. 2025), the context holds the issue plus the
last rounds of expert *actions and observations*; earlier thoughts are not
shown (only the action is scored, and the policy writes its own monologue).
"""

from __future__ import annotations

from typing import Any, Sequence

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
3. submit: submit the current changes in the repository as the final patch. No parameters.

Example:
<think>
I should find where the parser handles empty input.
</think>
<function=bash>
<parameter=command>grep -rn "def parse" /testbed/src | head</parameter>
</function>"""

NEXT_STEP_INSTRUCTION = (
    "Choose the next action. Think inside <think>...</think>, then write exactly one function call."
)

NO_OUTPUT = "(no output)"


def render_round(step: Step, index: int, *, max_observation_chars: int = 4000) -> str:
    """One past round: the action's canonical rendering and its observation."""
    observation = step.observation if step.observation.strip() else NO_OUTPUT
    observation = truncate_middle(observation, max_observation_chars)
    return (
        f"<step index=\"{index}\">\n"
        f"<action>\n{step.action.render()}\n</action>\n"
        f"<observation>\n{observation}\n</observation>\n"
        f"</step>"
    )


def build_user_message(
    problem_statement: str,
    history: Sequence[Step],
    *,
    context_steps: int = 2,
    max_observation_chars: int = 4000,
    max_problem_chars: int | None = None,
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
            parts.append(render_round(history[i], i + 1, max_observation_chars=max_observation_chars))
    parts.append(NEXT_STEP_INSTRUCTION)
    return "\n\n".join(parts)


def build_prompt(
    problem_statement: str,
    history: Sequence[Step],
    *,
    context_steps: int = 2,
    max_observation_chars: int = 4000,
    max_problem_chars: int | None = None,
    system_prompt: str = SYSTEM_PROMPT,
) -> list[dict[str, Any]]:
    """The chat for the next action: ``[system, user]``.

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
            ),
        },
    ]


def format_completion(thought: str, action_rendering: str) -> str:
    """The assistant text the policy should produce: ``<think>THOUGHT</think>\\nACTION``.

    Think tags already in the thought (some agents log their raw reasoning
    with them) are removed, so the completion has exactly one think block.

    >>> format_completion("<think>look</think>", "<function=submit>\\n</function>")
    '<think>look</think>\\n<function=submit>\\n</function>'
    """
    thought = thought.replace("<think>", "").replace("</think>", "").strip()
    return f"<think>{thought}</think>\n{action_rendering}"
