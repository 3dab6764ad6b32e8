"""The agent loop: the policy proposes one action at a time, the sandbox runs it.

One short class, :class:`Agent`, with overridable :meth:`Agent.step`,
:meth:`Agent.query`, :meth:`Agent.parse` and :meth:`Agent.execute`. Each way
a run ends is an :class:`AgentExit` exception raised where it is detected and
caught in one place (:meth:`Agent.run`); the result (the diff so far as the
patch, the reason, a canonical :class:`Trajectory`) is assembled in
``finally``, so it exists however the run ended.

The prompt is exactly the training prompt: :func:`swe_srl.data.prompts.fit_prompt`,
the function ``swe-srl dataset`` builds rows with, under the run's
:class:`~swe_srl.data.prompts.PromptConfig` (``swe-srl run`` reads the one the
model was trained with). Under a token budget it is cut the way the dataset
cut it; the budget is the PromptConfig's, or, when smaller, what the model's
context window leaves after the completion. Responses are parsed by
:func:`swe_srl.rewards.format.parse_response`, the function the SRL reward
uses, unless the policy says what its response is (:class:`~swe_srl.protocols.Completion`'s
``action`` or ``format_error``: replay). A malformed response is not
executed: the next prompt shows it as a round whose observation explains the
error (only the latest such round, so real rounds stay in view), and the
count is capped. Format-error rounds are kept out of the trajectory's steps
(they are in ``meta["format_errors"]``), so agent runs convert back into
clean training data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import Field

from swe_srl.config import Config
from swe_srl.data.prompts import PromptConfig, fit_prompt
from swe_srl.errors import FormatError
from swe_srl.policy.base import PolicyError
from swe_srl.protocols import CommandOutput, Completion, Policy, Sandbox
from swe_srl.rewards.format import parse_response
from swe_srl.sandbox import SandboxError
from swe_srl.text import truncate_middle
from swe_srl.trajectories.models import CANONICAL_TOOLS, Action, Step, Trajectory

SOURCE_FORMAT = "swe-srl-agent"

FORMAT_ERROR_OBSERVATION = (
    "Your response was not executed: {reason}.\n"
    "Answer with <think>your reasoning</think> followed by exactly one function call, e.g.\n"
    "<function=bash>\n<parameter=command>ls</parameter>\n</function>"
)

# Exit reasons (AgentResult.exit_reason)
SUBMITTED = "submitted"
STEP_LIMIT = "step_limit"
TOKEN_LIMIT = "token_limit"
TIME_LIMIT = "time_limit"
FORMAT_ERROR_LIMIT = "format_error_limit"
SANDBOX_ERROR = "sandbox_error"
POLICY_ERROR = "policy_error"
ERROR = "error"
INTERRUPTED = "interrupted"
LIMIT_REASONS = (STEP_LIMIT, TOKEN_LIMIT, TIME_LIMIT, FORMAT_ERROR_LIMIT)


class AgentConfig(Config):
    """Limits and prompt settings of one agent run."""

    max_steps: int = Field(50, ge=1, description="Policy calls per run (format errors count: every call costs).")
    max_total_tokens: int | None = Field(
        None, description="Prompt + completion tokens over the run (None: no limit).")
    max_wall_time_s: float | None = Field(
        1800.0, description="Wall-clock seconds per run; commands get at most the time that is left.")
    max_format_errors: int = Field(
        5, ge=0, description="Malformed responses tolerated per run; one more ends it.")
    prompt: PromptConfig = Field(
        default_factory=PromptConfig,
        description="The prompt's settings, as in training (``swe-srl run`` reads the model's); its budget is "
                    "further capped by what the policy's context window leaves after the completion.")
    max_response_chars: int = Field(
        200_000, description="A longer response is rejected as a format error without parsing.")
    command_timeout: float | None = Field(
        None, description="Per-command timeout in seconds (None: the sandbox's default).")
    keep_chars: int = Field(2000, description="How much of a rejected response is kept in the trajectory's meta.")
    max_thought_chars: int = Field(20_000, description="Thoughts longer than this are stored cut head-and-tail.")


class AgentExit(Exception):
    """Ends a run; ``reason`` is one of the exit reasons above."""

    reason = ERROR

    def __init__(self, message: str = "", reason: str | None = None):
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        self.message = message


class Submitted(AgentExit):
    reason = SUBMITTED


class LimitReached(AgentExit):
    """``reason`` is step_limit, token_limit, time_limit or format_error_limit."""


class Fatal(AgentExit):
    """The sandbox or the policy failed; ``reason`` says which."""


@dataclass
class AgentResult:
    instance_id: str
    exit_reason: str
    patch: str
    trajectory: Trajectory
    steps: int
    format_errors: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    duration_s: float = 0.0
    error: str | None = None

    @property
    def submitted(self) -> bool:
        return self.exit_reason == SUBMITTED

    def prediction(self, model_name: str) -> dict[str, Any]:
        """The SWE-bench prediction record."""
        return {"instance_id": self.instance_id, "model_name_or_path": model_name, "model_patch": self.patch}


class Agent:
    """Runs one task: ``Agent(policy, sandbox, task, config).run() -> AgentResult``.

    ``policy`` is bound to the task already (see :func:`swe_srl.policy.bind`);
    ``sandbox`` is started on the task's environment image; ``on_step`` is
    called after each executed step (progress reporting).
    """

    def __init__(
        self,
        policy: Policy,
        sandbox: Sandbox,
        task: dict[str, Any],
        config: AgentConfig | None = None,
        *,
        run_meta: dict[str, Any] | None = None,
        on_step: Callable[["Agent", Step], None] | None = None,
    ):
        self.policy = policy
        self.sandbox = sandbox
        self.task = task
        self.config = config or AgentConfig()
        self.run_meta = dict(run_meta or {})
        self.on_step = on_step
        self.history: list[Step] = []
        self.format_errors: list[dict[str, Any]] = []
        self.pending_error: Step | None = None
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.started = 0.0
        self.result: AgentResult | None = None

    # -- the loop -----------------------------------------------------------

    def run(self) -> AgentResult:
        self.started = time.monotonic()
        reason, error = ERROR, None
        try:
            while True:
                self.step()
        except AgentExit as e:
            reason, error = e.reason, (e.message or None) if e.reason != SUBMITTED else None
        except KeyboardInterrupt:
            reason, error = INTERRUPTED, "interrupted"
            raise
        except Exception as e:  # a bug or an unexpected backend failure: recorded, then re-raised
            reason, error = ERROR, f"{type(e).__name__}: {e}"
            raise
        finally:
            self.result = self.finish(reason, error)
        return self.result

    def step(self) -> Step | None:
        """One round: prompt -> response -> action -> observation."""
        self.check_limits()
        messages = self.prompt()
        completion = self.query(messages)
        try:
            thought, action = self.parse(completion)
        except FormatError as e:
            self.on_format_error(completion, str(e))
            return None
        if action.tool == "submit":
            self.history.append(Step(action, thought, "", {**self._completion_meta(completion)}))
            raise Submitted()
        result = self.execute(action)
        step = Step(action=action, thought=thought, observation=self.observation(result),
                    meta={**self._completion_meta(completion), **self._result_meta(result)})
        self.history.append(step)
        self.pending_error = None
        if self.on_step is not None:
            self.on_step(self, step)
        return step

    # -- overridable pieces -------------------------------------------------

    def prompt(self) -> list[dict[str, Any]]:
        """The training prompt for the next action (:func:`fit_prompt`), fitted to the budget."""
        history = self.history + ([self.pending_error] if self.pending_error is not None else [])
        problem = self.task.get("problem_statement") or ""
        budget = self._prompt_budget()
        count = self.policy.count_tokens if budget is not None else None
        return fit_prompt(problem, history, self.config.prompt, count, budget=budget).prompt

    def query(self, messages: list[dict[str, Any]]) -> Completion:
        """One completion from the policy; token use is counted and limited."""
        self.calls += 1
        try:
            completions = self.policy.generate(messages, 1)
        except PolicyError as e:
            raise Fatal(str(e), POLICY_ERROR) from None
        if not completions:
            raise Fatal("the policy returned no completion", POLICY_ERROR)
        c = completions[0]
        self.prompt_tokens += int(c.prompt_tokens or 0)
        self.completion_tokens += int(c.completion_tokens or 0)
        limit = self.config.max_total_tokens
        if limit is not None and self.prompt_tokens + self.completion_tokens > limit:
            raise LimitReached(f"{self.prompt_tokens + self.completion_tokens} tokens used, limit {limit}", TOKEN_LIMIT)
        return c

    def parse(self, completion: Completion) -> tuple[str, Action]:
        """``(thought, action)`` from a completion; FormatError when malformed.

        A policy that knows its response is malformed (``format_error``) or
        knows its exact action (``action``) is taken at its word (replay).
        """
        text = completion.text
        if completion.format_error is not None:
            raise FormatError(completion.format_error)
        if completion.action is not None:
            thought = ""
            try:
                thought = parse_response(text).thought
            except FormatError:
                pass  # the carried action is authoritative; the thought is only informative
            return self._cap_thought(thought), completion.action
        if not isinstance(text, str):
            raise FormatError(f"response is {type(text).__name__}, not text")
        if len(text) > self.config.max_response_chars:
            raise FormatError(f"response of {len(text)} characters exceeds {self.config.max_response_chars}")
        parsed = parse_response(text, CANONICAL_TOOLS)
        return self._cap_thought(parsed.thought), parsed.action

    def execute(self, action: Action) -> CommandOutput:
        """Run the action in the sandbox (its failures come back as results)."""
        try:
            if action.tool == "bash":
                default = self.config.command_timeout or self.sandbox.config.command_timeout
                timeouts = [t for t in (default, self._remaining_time()) if t is not None]
                return self.sandbox.run(str(action.args.get("command", "")),
                                        timeout=max(1.0, min(timeouts)) if timeouts else None)
            return self.sandbox.execute(action)
        except SandboxError as e:
            raise Fatal(str(e), SANDBOX_ERROR) from None

    def observation(self, result: CommandOutput) -> str:
        """What the model sees of a result: the output, and a note when it timed out."""
        text = result.output or ""
        if result.timed_out and "timed out" not in text[-300:]:
            text = f"{text}\n(the command timed out after {result.duration_s:.0f}s and was interrupted)".lstrip("\n")
        return text

    def check_limits(self) -> None:
        if self.calls >= self.config.max_steps:
            raise LimitReached(f"{self.calls} steps taken, limit {self.config.max_steps}", STEP_LIMIT)
        remaining = self._remaining_time()
        if remaining is not None and remaining <= 0:
            raise LimitReached(f"wall time limit of {self.config.max_wall_time_s:.0f}s reached", TIME_LIMIT)
        limit = self.config.max_total_tokens
        if limit is not None and self.prompt_tokens + self.completion_tokens >= limit:
            raise LimitReached(f"{self.prompt_tokens + self.completion_tokens} tokens used, limit {limit}", TOKEN_LIMIT)

    def on_format_error(self, completion: Completion, reason: str) -> None:
        text = completion.text if isinstance(completion.text, str) else str(completion.text)
        self.format_errors.append({
            "call": self.calls, "after_step": len(self.history), "reason": reason,
            "response": truncate_middle(text, self.config.keep_chars), "response_chars": len(text),
        })
        shown = truncate_middle(text, 500)
        self.pending_error = Step(Action("format_error", {"response": shown}, shown),
                                  observation=FORMAT_ERROR_OBSERVATION.format(reason=reason),
                                  meta={"format_error": reason})
        if len(self.format_errors) > self.config.max_format_errors:
            raise LimitReached(f"{len(self.format_errors)} format errors, limit {self.config.max_format_errors}",
                               FORMAT_ERROR_LIMIT)

    # -- the result ---------------------------------------------------------

    def finish(self, reason: str, error: str | None) -> AgentResult:
        """The diff so far, the reason and the trajectory (never raises for a dead sandbox)."""
        patch, patch_error = "", None
        try:
            patch = self.sandbox.diff()
        except Exception as e:  # the run must end with a result even when the sandbox is gone
            patch_error = f"{type(e).__name__}: {e}"
        if self.history and self.history[-1].action.tool == "submit" and not self.history[-1].observation:
            self.history[-1].observation = patch
        duration = time.monotonic() - self.started if self.started else 0.0
        iid = str(self.task.get("instance_id"))
        meta = {
            **self.run_meta,
            "exit_reason": reason,
            "error": error,
            "patch_error": patch_error,
            "calls": self.calls,
            "format_errors": self.format_errors,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "duration_s": round(duration, 3),
            "agent_config": self.config.to_dict(),
        }
        traj = Trajectory(
            id=f"{iid}__{self.run_meta.get('run_name', 'run')}",
            source_format=SOURCE_FORMAT,
            steps=list(self.history),
            instance_id=iid,
            repo=self.task.get("repo"),
            base_commit=self.task.get("base_commit"),
            problem_statement=self.task.get("problem_statement") or "",
            patch=patch,
            outcome="unknown",
            meta=meta,
        )
        return AgentResult(
            instance_id=iid, exit_reason=reason, patch=patch, trajectory=traj,
            steps=sum(1 for s in self.history if s.action.tool != "submit"),
            format_errors=len(self.format_errors), prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens, duration_s=duration, error=error or patch_error,
        )

    # -- helpers ------------------------------------------------------------

    def _remaining_time(self) -> float | None:
        if self.config.max_wall_time_s is None:
            return None
        return self.config.max_wall_time_s - (time.monotonic() - self.started)

    def _prompt_budget(self) -> int | None:
        """The PromptConfig's budget, capped by what the context window leaves (None: no budget)."""
        budgets = [self.config.prompt.max_prompt_tokens]
        window = self.policy.max_context
        if window is not None:
            budgets.append(max(1, window - self.policy.max_new_tokens))
        known = [b for b in budgets if b is not None]
        return min(known) if known else None

    def _cap_thought(self, thought: str) -> str:
        return truncate_middle(thought, self.config.max_thought_chars)

    @staticmethod
    def _completion_meta(c: Completion) -> dict[str, Any]:
        return {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
                "finish_reason": c.finish_reason, **c.meta}

    @staticmethod
    def _result_meta(r: CommandOutput) -> dict[str, Any]:
        return {"exit_code": r.exit_code, "timed_out": r.timed_out, "truncated": r.truncated,
                "duration_s": round(r.duration_s, 3)}
