"""The SRL reward: exact difflib similarity (fast), the response format, and
the TRL reward function's contract."""

from __future__ import annotations

import difflib
import json
import random
import re
import time

import pytest

from swe_srl.errors import FormatError
from swe_srl.rewards import similarity as sim
from swe_srl.rewards.format import is_degenerate, parse_response
from swe_srl.rewards.reward import FORMAT_FAILURE_REWARD, make_srl_reward, srl_reward
from swe_srl.trajectories.models import CANONICAL_TOOLS, Action
from swe_srl.trajectories.render import find_function_calls, render_action


def ref(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def random_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    alphabet = "abcdefgh \n\t<>=/_.()[]\"'" + "éüß中文字😀🚀\u0301"
    pairs = []
    for _ in range(n):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))
        b = list(a)
        for _ in range(rng.randint(0, 25)):  # edits keep the pair related, like a rollout and its expert
            j = rng.randint(0, max(0, len(b) - 1))
            b[j:j + rng.randint(0, 3)] = rng.choice(alphabet) * rng.randint(0, 2)
        pairs.append((a, "".join(b)) if rng.random() < 0.5 else ("".join(b), a))
    # long strings (file_text-sized), identical strings, empty strings
    big = "".join(rng.choice(alphabet) for _ in range(6000))
    pairs += [(big, big[:2000] + "xyz" + big[2500:]), (big, big), ("", ""), ("", "a"), ("a", "")]
    return pairs


def real_actions(samples_dir) -> list[str]:
    """Canonical renderings of the expert actions in the SWE-smith XML sample and mini-swe-agent runs."""
    from swe_srl.rewards.format import _canonical_action

    out = []
    for line in (samples_dir / "chat-messages" / "swe-smith-ft-xml__ft_xml_example.jsonl").read_text().splitlines():
        for m in json.loads(line)["messages"]:
            if m["role"] == "assistant":
                out += [_canonical_action(n, p, "").render() for n, p, _ in find_function_calls(m["content"])]
    for path in sorted((samples_dir / "mini-swe-agent").glob("v1*.json")):
        for m in json.loads(path.read_text())["messages"]:
            if m["role"] == "assistant":
                out += [render_action("bash", {"command": c}) for c in re.findall(r"```bash\n(.*?)```", m["content"], re.S)]
    return out


@pytest.fixture(params=["c", "cydifflib"])
def exact_backend(request):
    """Each accelerated exact backend in turn (the C one needs a C compiler)."""
    try:
        previous = sim.use_backend(request.param)
    except Exception as e:  # noqa: BLE001 - reported as a skip with the reason
        pytest.skip(f"{request.param} backend unavailable: {e}")
    yield request.param
    sim.use_backend(previous)


def test_similarity_equals_difflib_on_random_pairs(exact_backend):
    pairs = random_pairs(3000)
    got = [sim.action_similarity(a, b) for a, b in pairs]
    want = [ref(a, b) for a, b in pairs]
    assert got == want  # bit for bit
    assert sim.batch_similarity([a for a, _ in pairs], [b for _, b in pairs]) == want


def test_similarity_equals_difflib_on_real_actions(samples_dir, exact_backend):
    actions = real_actions(samples_dir)
    assert len(actions) > 100
    rng = random.Random(1)
    pairs = [(rng.choice(actions), rng.choice(actions)) for _ in range(400)]
    # rollout-like perturbations of the expert action
    for e in actions[:100]:
        k = rng.randint(0, len(e))
        pairs.append((e[:k] + "x" + e[k + 1:], e))
    # GRPO layout: 8 rollouts per expert action, to exercise the matcher reuse
    experts = [e for e in actions[:25] for _ in range(8)]
    preds = [rng.choice(actions) for _ in experts]
    assert [sim.action_similarity(a, b) for a, b in pairs] == [ref(a, b) for a, b in pairs]
    assert sim.batch_similarity(preds, experts) == [ref(a, b) for a, b in zip(preds, experts)]


def test_default_backend_is_accelerated_and_much_faster(samples_dir):
    import shutil

    assert sim.backend() == ("c" if shutil.which("cc") or shutil.which("gcc") else "cydifflib")
    actions = real_actions(samples_dir)
    rng = random.Random(2)
    pairs = [(rng.choice(actions), rng.choice(actions)) for _ in range(300)]
    t = time.perf_counter()
    [ref(a, b) for a, b in pairs]
    slow = time.perf_counter() - t
    t = time.perf_counter()
    sim.batch_similarity([a for a, _ in pairs], [b for _, b in pairs])
    fast = time.perf_counter() - t
    assert slow / fast > 5  # >= 10x measured by scripts/bench/reward.py; loose here for a noisy machine


def test_indel_option_is_documented_upper_bound():
    for a, b in random_pairs(300, seed=3):
        assert sim.indel_similarity(a, b) >= ref(a, b) - 1e-12
    assert sim.get_similarity("indel") is sim.indel_similarity
    with pytest.raises(Exception, match="unknown similarity"):
        sim.get_similarity("nope")


EXPERT = render_action("bash", {"command": "ls -la /testbed"})


@pytest.mark.parametrize("text", [
    "",
    "ls -la",
    "<function=bash><parameter=command>ls</parameter></function>",  # no think
    "<think>no close <function=bash><parameter=command>ls</parameter></function>",
    "<think>x</think>",  # no call
    "<think>x</think><function=bash><parameter=command>ls</parameter></function><function=submit></function>",
    "<think>x</think>I will run ls <function=bash><parameter=command>ls</parameter></function>",
    "<think>x</think><function=bash></function>",  # bash without command
    "<think>a<think>b</think><function=submit></function>",
])
def test_format_failures_score_minus_one(text):
    with pytest.raises(FormatError):
        parse_response(text)
    assert srl_reward([text], [EXPERT]) == [FORMAT_FAILURE_REWARD]


def test_tolerated_slips_parse_and_canonicalise():
    messy = ("  <think>\n I look </think>\n\n<function = str_replace_editor>\n<parameter=path>\n/testbed/a.py\n</parameter>"
             "<parameter=command>view</parameter>\n<parameter=view_range>[1,9]")  # reordered, no closing tags
    r = parse_response(messy)
    assert r.thought == "I look"
    assert r.action == Action("str_replace_editor", {"path": "/testbed/a.py", "command": "view", "view_range": [1, 9]}, r.action.raw)
    expert = render_action("str_replace_editor", {"command": "view", "path": "/testbed/a.py", "view_range": [1, 9]})
    assert srl_reward([messy], [expert]) == [1.0]  # formatting noise costs nothing
    assert srl_reward([messy], [expert], compare="raw")[0] < 1.0  # the paper's raw comparison sees it


def test_exact_copy_of_expert_text_is_perfect_even_if_rendering_differs():
    expert = render_action("str_replace_editor", {"command": "create", "path": "/a.py", "file_text": "\nx = 1\n"})
    assert srl_reward([f"<think>t</think>\n{expert}"], [expert]) == [1.0]


def test_reward_values_and_completion_shapes():
    pred = render_action("bash", {"command": "ls /testbed"})
    text = f"<think>look</think>\n{pred}"
    want = ref(pred, EXPERT)
    assert srl_reward([text], [EXPERT]) == [want]
    assert srl_reward([[{"role": "assistant", "content": text}]], [EXPERT]) == [want]
    assert srl_reward([[{"role": "assistant", "content": [{"type": "text", "text": text}]}]], [EXPERT]) == [want]
    # TRL passes extra columns and helpers; they are accepted
    logged = {}
    f = make_srl_reward()
    out = f(completions=[text, "bad"], expert_action=[EXPERT, EXPERT], prompts=[[], []], trajectory_id=["a", "b"],
            log_metric=lambda k, v: logged.__setitem__(k, v), trainer_state=None)
    assert out == [want, -1.0] and logged["srl/format_failure_rate"] == 0.5
    assert f.__name__ == "srl_reward"


def test_degenerate_actions_never_beat_a_real_attempt():
    expert = render_action("bash", {"command": "ls"})  # short expert: an empty command is textually very close
    empty = "<think>t</think><function=bash><parameter=command>   </parameter></function>"
    blank_editor = "<think>t</think><function=str_replace_editor><parameter=command>view</parameter><parameter=path> </parameter></function>"
    real = [f"<think>t</think>{render_action('bash', {'command': c})}" for c in ("cat setup.py", "python -m pytest -q", "z")]
    assert ref(render_action("bash", {"command": ""}), expert) > 0.9  # why the rule is needed
    deg = srl_reward([empty, blank_editor], [expert] * 2)
    assert deg == [0.0, 0.0]
    assert min(srl_reward(real, [expert] * 3)) >= max(deg)
    assert is_degenerate(Action("bash", {"command": ""})) and not is_degenerate(Action("submit", {}))
    # ...but when the expert itself sent an empty command (SWE-agent: "view more logs"), copying it is perfect
    assert srl_reward([empty], [render_action("bash", {"command": "   "})]) == [1.0]


def test_a_tool_neither_offered_nor_the_experts_is_a_format_failure():
    """The reward hack the demo's SFT-then-SRL model found: an invented ``<function=think>``
    shares the call boilerplate with every expert action (difflib gave it 0.689 against a bash
    ``find``). Like SWE-agent, an unknown function is a format error."""
    expert = render_action("bash", {"command": 'find /testbed -type f -name "*.py" | grep -i alias'})
    hack = "<think>your reasoning</think>\n<function=think>\n<parameter=command>to_snake</parameter>\n</function>"
    assert ref(render_action("think", {"command": "to_snake"}), expert) > 0.6  # why the rule is needed
    assert srl_reward([hack], [expert]) == [FORMAT_FAILURE_REWARD]
    with pytest.raises(FormatError, match="unknown tool 'think' \\(the tools are bash, str_replace_editor, submit\\)"):
        parse_response(hack, CANONICAL_TOOLS)
    assert parse_response(hack).action.tool == "think"  # without a tool list (converting logs) any name parses
    # the offered tools, under any alias, keep their similarity...
    alias = "<think>t</think><function=execute_bash><parameter=command>find /testbed</parameter></function>"
    assert srl_reward([alias], [expert])[0] == ref(render_action("bash", {"command": "find /testbed"}), expert) > 0
    # ...and so does the expert's own tool when it is not one of them (Claude Code's Glob)
    glob = render_action("Glob", {"pattern": "**/*.py"})
    assert srl_reward([f"<think>t</think>{glob}"], [glob]) == [1.0]
    assert srl_reward([f"<think>t</think>{render_action('Glob', {'pattern': '*.py'})}"], [glob])[0] > 0.5
    assert srl_reward([f"<think>t</think>{glob}"], [expert]) == [FORMAT_FAILURE_REWARD]


def test_a_grpo_batch_of_a_thousand_rollouts_scores_in_about_a_second(samples_dir):
    actions = real_actions(samples_dir)
    rng = random.Random(4)
    experts = [e for e in [rng.choice(actions) for _ in range(128)] for _ in range(8)]  # 128 prompts x 8 rollouts
    completions = [f"<think>step</think>\n{rng.choice(actions)}" for _ in experts]
    t = time.perf_counter()
    rewards = srl_reward(completions, experts)
    dt = time.perf_counter() - t
    assert len(rewards) == 1024 and all(0.0 <= r <= 1.0 for r in rewards)
    assert dt < 3.0, dt  # unrelated real actions (the slow case for difflib); generous for a shared machine
