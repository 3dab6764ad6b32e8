"""``--mode oracle-edit``: one call over the issue and the gold files' content,
search/replace edits turned into a patch that git applies."""

from __future__ import annotations

import subprocess

import pytest

from swe_srl.agent.oracle_edit import Edit, apply_edit, build_messages, gold_files, make_patch, parse_edits, run_oracle_edit
from swe_srl.errors import FormatError

ANSWER = """<think>add subtracts; make it add.</think>
### calc/__init__.py
```python
<<<<<<< SEARCH
def add(a, b):
    return a - b
=======
def add(a, b):
    return a + b
>>>>>>> REPLACE
```
"""


def test_parse_edits_blocks_fences_and_errors():
    thought, edits = parse_edits(ANSWER)
    assert thought == "add subtracts; make it add."
    assert edits == [Edit("calc/__init__.py", "def add(a, b):\n    return a - b\n", "def add(a, b):\n    return a + b\n")]
    two = "### a.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n### b.py\n<<<<<<< SEARCH\n=======\nnew\n>>>>>>> REPLACE"
    assert [e.path for e in parse_edits(two)[1]] == ["a.py", "b.py"]
    with pytest.raises(FormatError, match="no SEARCH/REPLACE block"):
        parse_edits("<think>hmm</think> I would change add.")
    with pytest.raises(FormatError, match="without a '### path' header"):
        parse_edits("<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE")
    with pytest.raises(FormatError, match="unterminated"):
        parse_edits("### a.py\n<<<<<<< SEARCH\nx\n=======\ny\n")


def test_apply_edit_exact_tolerant_ambiguous_and_missing():
    src = "a = 1\nb = 2   \nc = 3\n"
    assert apply_edit(src, Edit("f", "a = 1\n", "a = 10\n")) == "a = 10\nb = 2   \nc = 3\n"
    assert apply_edit(src, Edit("f", "b = 2\n", "b = 20\n")) == "a = 1\nb = 20\nc = 3\n"  # trailing blanks tolerated
    with pytest.raises(FormatError, match="not found"):
        apply_edit(src, Edit("f", "d = 4\n", "x\n"))
    with pytest.raises(FormatError, match="occurs 2 times"):
        apply_edit("x\nx\n", Edit("f", "x\n", "y\n"))
    assert apply_edit(None, Edit("new.py", "", "print(1)\n")) == "print(1)\n"
    with pytest.raises(FormatError, match="empty SEARCH"):
        apply_edit(src, Edit("f", "", "x\n"))


def test_make_patch_applies_with_git_including_new_files(calc_task, tmp_path):
    repo = calc_task["repo_path"]
    original = {"calc/__init__.py": subprocess.run(["git", "show", f"{calc_task['base_commit']}:calc/__init__.py"],
                                                   cwd=repo, capture_output=True, text=True, check=True).stdout,
                "calc/extra.py": None}
    modified = {"calc/__init__.py": original["calc/__init__.py"].replace("return a - b", "return a + b", 1),
                "calc/extra.py": "X = 1\n"}
    patch = make_patch(original, modified)
    assert "new file mode" in patch and "+X = 1" in patch
    check = subprocess.run(["git", "apply", "--check", "-"], cwd=repo, input=patch, text=True, capture_output=True)
    assert check.returncode == 0, check.stderr


def test_oracle_run_turns_edits_into_the_gold_patch(calc, calc_task):
    assert gold_files(calc_task) == ["calc/__init__.py"]
    policy = calc.Scripted([ANSWER])
    result = run_oracle_edit(policy, calc_task, calc_task["repo_path"])
    assert result.exit_reason == "submitted"
    # the prompt holds the issue and the full file at the base commit
    user = policy.prompts[0][1]["content"]
    assert calc_task["problem_statement"] in user and "def sub(a, b):\n    return a - b" in user
    assert policy.prompts[0] == build_messages(calc_task, {"calc/__init__.py": calc.CALC})
    assert result.patch == calc_task["patch"]
    steps = result.trajectory.steps
    assert [s.action.tool for s in steps] == ["str_replace_editor", "submit"]
    assert steps[0].action.args["old_str"] == "def add(a, b):\n    return a - b"


def test_oracle_run_records_unusable_answers(calc, calc_task):
    bad = run_oracle_edit(calc.Scripted(["I think add is wrong."]), calc_task, calc_task["repo_path"])
    assert bad.exit_reason == "format_error" and bad.patch == "" and bad.format_errors == 1
    miss = run_oracle_edit(calc.Scripted(["### calc/__init__.py\n<<<<<<< SEARCH\nnope\n=======\nx\n>>>>>>> REPLACE"]),
                           calc_task, calc_task["repo_path"])
    assert miss.exit_reason == "submitted" and miss.patch == ""
    assert miss.trajectory.meta["failed_edits"] == [{"path": "calc/__init__.py", "reason": "calc/__init__.py: SEARCH text not found"}]


def test_files_too_long_for_the_context_are_cut_around_the_gold_hunks(calc):
    from swe_srl.agent.oracle_edit import CONTEXT_LINES, fit_messages

    class Small(calc.Scripted):
        def __init__(self, context):
            super().__init__(["x"])
            self.context = context

        @property
        def max_context(self):
            return self.context

        def count_tokens(self, messages):
            return sum(len(m["content"]) for m in messages) // 4

    text = "\n".join(f"x{i} = {i}" for i in range(1, 2001))  # ~5k tokens at 4 characters a token
    task = {"instance_id": "t", "problem_statement": "x1000 should be 0",
            "patch": "--- a/m.py\n+++ b/m.py\n@@ -1000 +1000 @@\n-x1000 = 1000\n+x1000 = 0\n"}
    policy = Small(2000)
    budget = 2000 - policy.max_new_tokens
    messages, lines = fit_messages(policy, task, {"m.py": text})
    user = messages[1]["content"]
    assert lines in CONTEXT_LINES and policy.count_tokens(messages) <= budget
    assert f"x{1000 - lines} = {1000 - lines}\n" in user and f"\nx{999 - lines} = " not in user  # exactly `lines` around
    assert f"[lines 1-{999 - lines} not shown]" in user and f"[lines {1001 + lines}-2000 not shown]" in user
    wider = CONTEXT_LINES[CONTEXT_LINES.index(lines) - 1]  # the widest window that fits is taken
    assert policy.count_tokens(build_messages(task, {"m.py": text}, context_lines=wider)) > budget
    # whole files whenever they fit, and for policies that do not know their context
    for roomy in (Small(100_000), Small(None)):
        messages, lines = fit_messages(roomy, task, {"m.py": text})
        assert lines is None and messages == build_messages(task, {"m.py": text})
    # a policy that cannot count tokens is measured at 3 characters a token, not given whole files
    class Uncounted(Small):
        def count_tokens(self, messages):
            return None

    messages, lines = fit_messages(Uncounted(2000), task, {"m.py": text})
    assert lines is not None and sum(len(m["content"]) for m in messages) // 3 <= 2000 - policy.max_new_tokens
