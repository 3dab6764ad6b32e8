"""The agent loop on a real Docker sandbox, driven by scripted policies: a fix
that submits, prompts identical to training's, and every way a run can end
(limits, format errors, garbage, huge outputs, a dead sandbox) ending cleanly
with the reason and the diff so far recorded."""

from __future__ import annotations

import pytest

from swe_srl.agent.loop import Agent, AgentConfig
from swe_srl.data.prompts import PromptConfig, build_prompt
from swe_srl.policy.base import BasePolicy
from swe_srl.protocols import Completion

pytestmark = pytest.mark.docker


def test_scripted_fix_submits_the_gold_patch_with_training_prompts(calc, calc_task, sandbox):
    policy = calc.Scripted(calc.FIX_SCRIPT)
    result = Agent(policy, sandbox, calc_task, AgentConfig(prompt=PromptConfig(context_steps=2))).run()
    assert result.exit_reason == "submitted"
    assert result.patch == calc_task["patch"]
    traj = result.trajectory
    assert [s.action.tool for s in traj.steps] == ["bash", "str_replace_editor", "bash", "submit"]
    assert traj.source_format == "swe-srl-agent" and traj.patch == result.patch
    assert traj.steps[2].observation.strip() == "3" and traj.steps[2].meta["exit_code"] == 0
    assert result.steps == 3 and result.format_errors == 0
    # every prompt is exactly the training prompt over the last two rounds
    for i, prompt in enumerate(policy.prompts):
        assert prompt == build_prompt(calc_task["problem_statement"], traj.steps[:i], context_steps=2)
    assert "<step index=\"1\">" not in policy.prompts[3][1]["content"]  # only the last 2 rounds at step 4
    assert "<step index=\"3\">" in policy.prompts[3][1]["content"]
    # ... and the dataset stage turns the run back into rows with exactly those prompts
    from swe_srl.data.build import DatasetConfig, Filters, iter_rows

    rows = list(iter_rows(iter([traj]), DatasetConfig(dedupe=False), Filters()))
    assert [r["prompt"] for r in rows] == policy.prompts
    assert [r["expert_action"] for r in rows] == [s.action.render() for s in traj.steps]


def test_format_errors_are_observations_and_capped(calc, calc_task, sandbox):
    bad = "I will just edit the file."
    invented = calc.call("think", command="to_snake")  # an unknown tool is a format error, as in SWE-agent
    policy = calc.Scripted([bad, calc.call("bash", command="echo hi"), invented, bad, bad, bad])
    result = Agent(policy, sandbox, calc_task, AgentConfig(max_format_errors=3)).run()
    assert result.exit_reason == "format_error_limit"
    assert result.format_errors == 4 and result.steps == 1
    # the malformed response is shown to the model as a round with the error as observation
    second_prompt = policy.prompts[1][1]["content"]
    assert "does not start with <think>" in second_prompt and "I will just edit the file." in second_prompt
    # ... but the executed round replaces it, and format errors never enter the trajectory's steps
    assert "does not start with <think>" not in policy.prompts[2][1]["content"]
    assert [s.action.tool for s in result.trajectory.steps] == ["bash"]
    reasons = [e["reason"] for e in result.trajectory.meta["format_errors"]]
    assert reasons == ["response does not start with <think>", "unknown tool 'think' (the tools are bash, str_replace_editor, submit)",
                       *["response does not start with <think>"] * 2]
    assert result.patch == ""


def test_garbage_and_huge_outputs_end_cleanly(calc, calc_task, sandbox):
    huge = "<think>" + "x" * 3_000_000 + "</think>\n<function=bash>\n<parameter=command>echo big</parameter>\n</function>"
    garbage = "\x00\ufffd<function=<<parameter=</function></think><think>" * 1000
    policy = calc.Scripted([huge, garbage, 12345])
    result = Agent(policy, sandbox, calc_task, AgentConfig(max_format_errors=2, max_response_chars=100_000,
                                                            keep_chars=1000)).run()
    assert result.exit_reason == "format_error_limit"
    errs = result.trajectory.meta["format_errors"]
    assert errs[0]["reason"].startswith("response of 3000") and errs[0]["response_chars"] > 3_000_000
    assert len(errs[0]["response"]) < 1100  # what is kept of a rejected response is capped
    assert len(errs) == 3 and result.steps == 0
    # the garbage is not echoed whole into the next prompt either
    assert len(policy.prompts[-1][1]["content"]) < 10_000


def test_token_limit_counts_estimates_from_plain_policies(calc, calc_task, sandbox):
    verbose = calc.call("bash", thought="y" * 40_000, command="echo step")
    result = Agent(calc.Scripted([verbose]), sandbox, calc_task, AgentConfig(max_total_tokens=25_000)).run()
    assert result.exit_reason == "token_limit"
    assert result.steps == 2  # 10k tokens per call: the third call crosses 25k and is not executed
    assert result.trajectory.meta["completion_tokens"] > 25_000 - result.trajectory.meta["prompt_tokens"]


def test_step_limit_keeps_the_diff_so_far(calc, calc_task, sandbox):
    policy = calc.Scripted(calc.FIX_SCRIPT[1:2] + [calc.call("bash", command="true")])
    result = Agent(policy, sandbox, calc_task, AgentConfig(max_steps=3)).run()
    assert result.exit_reason == "step_limit" and result.steps == 3
    assert result.patch == calc_task["patch"]  # the edit made before the limit is the patch


def test_time_limit_interrupts_a_long_command(calc, calc_task, sandbox):
    policy = calc.Scripted([calc.call("bash", command="sleep 30")])
    result = Agent(policy, sandbox, calc_task, AgentConfig(max_wall_time_s=3)).run()
    assert result.exit_reason == "time_limit"
    assert result.duration_s < 20
    assert result.trajectory.steps[0].meta["timed_out"] is True, result.trajectory.to_dict()
    assert "timed out" in result.trajectory.steps[0].observation


def test_dead_sandbox_is_a_fatal_error_with_a_result(calc, calc_task, sandbox):
    policy = calc.Scripted(calc.FIX_SCRIPT[1:2] + [calc.call("bash", command="ls")])

    class Killer(Agent):
        def execute(self, action):
            if self.history:  # after the edit, the container dies
                self.sandbox.container.kill()
            return super().execute(action)

    result = Killer(policy, sandbox, calc_task).run()
    assert result.exit_reason == "sandbox_error"
    assert result.error and result.steps == 1
    assert result.trajectory.meta["exit_reason"] == "sandbox_error"


def test_policy_generate_with_replay_action_is_executed_verbatim(calc, calc_task, sandbox):
    """A completion that carries its action is executed as is, even if its text would not parse."""
    from swe_srl.trajectories.models import Action

    class Carrier(BasePolicy):
        def generate(self, messages, n=1, **overrides):
            return [Completion(text="not parseable", action=Action("bash", {"command": "printf '</parameter>'"}))]

    result = Agent(Carrier(), sandbox, calc_task, AgentConfig(max_steps=1)).run()
    assert result.exit_reason == "step_limit"
    assert result.trajectory.steps[0].observation == "</parameter>"


def test_prompts_shrink_to_fit_the_model(calc, calc_task, sandbox):
    """With a context window, older rounds (then the task text) give way so the prompt fits."""

    class Windowed(calc.Scripted):
        max_context = None

        def count_tokens(self, messages):
            return sum(len(m["content"]) for m in messages) // 4

    steps = [calc.call("bash", command=f"seq {i * 300} | tail -c 1200") for i in range(1, 5)] + [calc.call("submit")]
    policy = Windowed(steps)
    one_round_budget = policy.count_tokens(build_prompt(calc_task["problem_statement"], [], context_steps=2)) + 400
    prompt = PromptConfig(context_steps=2, max_observation_chars=4000, max_prompt_tokens=one_round_budget)
    result = Agent(policy, sandbox, calc_task, AgentConfig(prompt=prompt)).run()
    assert result.exit_reason == "submitted"
    for prompt in policy.prompts:
        assert policy.count_tokens(prompt) <= one_round_budget
    last = policy.prompts[-1][1]["content"]
    assert '<step index="4">' in last and '<step index="3">' not in last  # one round kept, not two
