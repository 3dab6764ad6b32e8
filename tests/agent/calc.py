"""The agent and policy tests' shared task: a small repository whose ``add``
subtracts, as a SWE-bench task with an inline environment spec; scripted
policies; and a tiny chat model fine-tuned to solve the task (so every real
backend can be run end to end on it). Loaded by path from the conftests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from swe_srl.policy.base import BasePolicy, estimate_tokens
from swe_srl.protocols import Completion

CALC = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n"
FIXED = CALC.replace("return a - b\n\n\ndef sub", "return a + b\n\n\ndef sub")
TEST_SUB = "from calc import add, sub\n\n\ndef test_sub():\n    assert sub(3, 1) == 2\n"
TEST_ADD = TEST_SUB + "\n\ndef test_add():\n    assert add(1, 2) == 3\n"
FILES = {
    "calc/__init__.py": CALC,
    "tests/test_calc.py": TEST_SUB,
    "pyproject.toml": ('[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
                       '[project]\nname = "calc"\nversion = "0.1"\n'),
}
SPEC = {"python": "3.11", "pip_packages": ["pytest"], "install": ["pip install --no-build-isolation -e ."]}
PROBLEM = "calc.add(1, 2) returns -1 instead of 3: add subtracts its arguments."
FIX_COMMAND = "sed -i '2s/a - b/a + b/' calc/__init__.py"


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout


def make_task(root: Path) -> dict:
    """The repository at ``root/calc`` and the SWE-bench task that fixes it."""
    repo = root / "calc"
    for name, text in FILES.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "calc")
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "calc/__init__.py").write_text(FIXED)
    patch = git(repo, "diff")
    git(repo, "checkout", "-q", "--", ".")
    (repo / "tests/test_calc.py").write_text(TEST_ADD)
    test_patch = git(repo, "diff")
    git(repo, "checkout", "-q", "--", ".")
    return {
        "instance_id": "local__calc-1",
        "repo": "local/calc",
        "base_commit": base,
        "patch": patch,
        "test_patch": test_patch,
        "problem_statement": PROBLEM,
        "FAIL_TO_PASS": ["tests/test_calc.py::test_add"],
        "PASS_TO_PASS": ["tests/test_calc.py::test_sub"],
        "version": "0.1",
        "environment_setup_commit": base,
        "repo_path": str(repo),
        "spec": SPEC,
    }


class Scripted(BasePolicy):
    """A policy answering with a fixed list of responses (then repeating the last).
    Token counts are estimates (4 characters a token), as a plain backend reports them."""

    name = "scripted"

    def __init__(self, responses):
        super().__init__()
        self.responses = list(responses)
        self.calls = 0
        self.prompts = []

    def generate(self, messages, n=1, **overrides):
        self.prompts.append(messages)
        text = self.responses[min(self.calls, len(self.responses) - 1)]
        self.calls += 1
        text = text() if callable(text) else text
        prompt_tokens = sum(estimate_tokens(m.get("content") or "") for m in messages)
        return [Completion(text=text, prompt_tokens=prompt_tokens, completion_tokens=estimate_tokens(text),
                           finish_reason="stop") for _ in range(n)]


def call(tool: str, thought: str = "step", **args) -> str:
    from swe_srl.trajectories.render import render_action

    return f"<think>{thought}</think>\n{render_action(tool, args)}"


FIX_SCRIPT = [
    call("bash", command="grep -n 'return a - b' calc/__init__.py"),
    call("str_replace_editor", command="str_replace", path="/testbed/calc/__init__.py",
         old_str="def add(a, b):\n    return a - b", new_str="def add(a, b):\n    return a + b"),
    call("bash", command="python -c 'from calc import add; print(add(1, 2))'"),
    call("submit"),
]


def solver_examples():
    """(prompt messages, completion) pairs the fine-tuned tiny model learns: fix, then submit."""
    from swe_srl.data.prompts import build_prompt
    from swe_srl.trajectories.models import Action, Step

    fix = call("bash", thought="fix add", command=FIX_COMMAND)
    done = call("submit", thought="done")
    after_fix = [Step(Action("bash", {"command": FIX_COMMAND}), "fix add", "")]
    return [(build_prompt(PROBLEM, []), fix), (build_prompt(PROBLEM, after_fix), done)]


ORACLE_ANSWER = (
    "<think>add subtracts</think>\n### calc/__init__.py\n<<<<<<< SEARCH\ndef add(a, b):\n    return a - b\n"
    "=======\ndef add(a, b):\n    return a + b\n>>>>>>> REPLACE\n"
)


def oracle_example():
    """The oracle-edit prompt of the calc task and its answer (search/replace edits)."""
    from swe_srl.agent.oracle_edit import build_messages

    return build_messages({"problem_statement": PROBLEM}, {"calc/__init__.py": CALC}), ORACLE_ANSWER


def train_solver(model_dir: Path, out_dir: Path, *, steps: int = 110, lr: float = 3e-3) -> Path:
    """Fine-tune the tiny model until it answers :func:`solver_examples` and
    :func:`oracle_example` greedily (seconds on CPU)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread is faster than two on a busy machine
    try:
        tok = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        batch = []
        for messages, completion in [*solver_examples(), oracle_example()]:
            prompt = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
            target = tok(completion + tok.eos_token, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([prompt + target])
            labels = ids.clone()
            labels[0, : len(prompt)] = -100
            batch.append((ids, labels))
        torch.manual_seed(0)
        opt = torch.optim.AdamW(model.parameters(), lr=lr)
        model.train()
        for _ in range(steps):
            for ids, labels in batch:
                model(input_ids=ids, labels=labels).loss.backward()
            opt.step()
            opt.zero_grad()
        model.eval()
        model.save_pretrained(out_dir)
        tok.save_pretrained(out_dir)
    finally:
        torch.set_num_threads(threads)
    return out_dir
