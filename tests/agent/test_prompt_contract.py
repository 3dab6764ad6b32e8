"""One prompt contract: the prompt the agent builds before step k is the prompt
``swe-srl dataset`` built for step k, byte for byte, for any trajectory,
PromptConfig and token budget (the agent replays the trajectory against a
sandbox that answers with the recorded observations, and counts tokens the
way the dataset did). Before the contract, the agent dropped every round and
then halved the task under a budget, while the dataset kept the latest round
and shrank observations: the model was asked in a form it never saw."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swe_srl.agent.loop import Agent, AgentConfig
from swe_srl.data.build import DatasetConfig, Filters, iter_rows
from swe_srl.data.prompts import PromptConfig, fit_prompt
from swe_srl.policy.replay import ReplayEpisode
from swe_srl.sandbox import CommandResult
from swe_srl.trajectories.models import Action, Step, Trajectory

TEXT = st.text(alphabet="abcdefghij xyz.\n_-", max_size=40)


def count_tokens(messages):
    """A deterministic stand-in for a tokenizer's chat-template count."""
    return sum(len(m["content"].split()) + len(m["content"]) // 7 for m in messages) + 3


class ReplayCounting(ReplayEpisode):
    """Replays the trajectory and counts tokens as the dataset's counter does."""

    def __init__(self, trajectory):
        super().__init__(trajectory)
        self.prompts = []

    def count_tokens(self, messages):
        return count_tokens(messages)

    def generate(self, messages, n=1, **overrides):
        self.prompts.append(messages)
        return super().generate(messages, n, **overrides)


class Recorded:
    """A sandbox whose every action answers with the next recorded observation."""

    class config:
        command_timeout = 60.0

    def __init__(self, observations):
        self.observations = list(observations)
        self.executed = []

    def _next(self, what):
        self.executed.append(what)
        return CommandResult(output=self.observations[len(self.executed) - 1], exit_code=0)

    def run(self, command, timeout=None):
        return self._next(("bash", command))

    def execute(self, action):
        return self._next((action.tool, action.args))

    def diff(self):
        return ""


@st.composite
def trajectories(draw):
    steps = []
    for i in range(draw(st.integers(0, 7))):
        if draw(st.booleans()):
            action = Action("bash", {"command": f"cmd{i} " + draw(TEXT).replace("\n", " ")})
        else:
            action = Action("str_replace_editor", {"command": "view", "path": f"/testbed/f{i}.py"})
        observation = draw(st.one_of(st.just(""), TEXT, st.builds(lambda n, c: c * n, st.integers(200, 3000),
                                                                   st.sampled_from("ab\n"))))
        steps.append(Step(action, thought=draw(TEXT).strip() or f"t{i}", observation=observation))
    steps.append(Step(Action("submit", {}), thought="done"))
    problem = draw(st.one_of(TEXT, st.builds(lambda n: "Fix the parser. " * n, st.integers(1, 150))))
    return Trajectory(id="t", source_format="swe-agent", instance_id="i-1", problem_statement=problem, steps=steps)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traj=trajectories(),
       context_steps=st.integers(0, 4),
       cap=st.sampled_from([300, 1000, 4000]),
       thoughts=st.sampled_from(["omit", "show"]),
       budget=st.one_of(st.none(), st.integers(150, 2500)))
def test_agent_prompt_at_step_k_is_the_dataset_prompt_for_step_k(traj, context_steps, cap, thoughts, budget):
    prompt_config = PromptConfig(context_steps=context_steps, max_observation_chars=cap, thoughts=thoughts,
                                 max_prompt_tokens=budget)
    rows = list(iter_rows(iter([traj]), DatasetConfig(prompt=prompt_config, dedupe=False), Filters(),
                          count_tokens if budget is not None else None))
    policy = ReplayCounting(traj)
    sandbox = Recorded([s.observation for s in traj.steps])
    task = {"instance_id": traj.instance_id, "problem_statement": traj.problem_statement}
    result = Agent(policy, sandbox, task, AgentConfig(max_steps=len(traj.steps) + 1, prompt=prompt_config)).run()
    assert result.exit_reason == "submitted"
    assert len(policy.prompts) == len(traj.steps)
    by_step = {r["step_index"]: r["prompt"] for r in rows}  # rows still over budget are not in the dataset
    for k, prompt in enumerate(policy.prompts):
        expected = fit_prompt(traj.problem_statement, traj.steps[:k], prompt_config, count_tokens).prompt
        assert prompt == expected
        if k in by_step:
            assert prompt == by_step[k]
    assert len(by_step) >= (len(traj.steps) if budget is None else 0)


def test_swe_srl_run_takes_the_prompt_config_the_model_was_trained_with(tmp_path):
    """`swe-srl run` reads the trained model's PromptConfig (its training output folder),
    lets the flags override it, and says where each setting came from."""
    import json

    from swe_srl.cli.run import resolve_prompt_config
    from swe_srl.data.prompts import DEFAULT_PROMPT_CONFIG
    from swe_srl.errors import ConfigError

    out = tmp_path / "runs" / "srl"
    (out / "adapter").mkdir(parents=True)
    (out / "prompt_config.json").write_text(json.dumps({"context_steps": 1, "max_prompt_tokens": 900}))
    no_flags = {"context_steps": None, "max_observation_chars": None, "max_prompt_tokens": None}
    cfg, source = resolve_prompt_config(f"hf:{out / 'adapter'}", {}, None, no_flags)
    assert (cfg.context_steps, cfg.max_prompt_tokens) == (1, 900) and source == str(out / "prompt_config.json")
    cfg, source = resolve_prompt_config(f"hf:{tmp_path}", {"adapter": str(out / "adapter")}, None,
                                        {**no_flags, "context_steps": 3})
    assert (cfg.context_steps, cfg.max_prompt_tokens) == (3, 900) and source.endswith("with --context-steps 3")
    cfg, source = resolve_prompt_config("openai:http://127.0.0.1:1/v1#m", {}, None, no_flags)
    assert cfg == DEFAULT_PROMPT_CONFIG and source.startswith("defaults")
    cfg, _ = resolve_prompt_config("openai:http://127.0.0.1:1/v1#m", {}, out, no_flags)
    assert cfg.context_steps == 1
    try:
        resolve_prompt_config(f"vllm:{out}", {}, None, {**no_flags, "max_observation_chars": 0})
    except ConfigError as e:
        assert str(e) == "swe-srl run: --max-observation-chars: Input should be greater than 0"
    else:
        raise AssertionError("a bad flag must be a one-line error")
