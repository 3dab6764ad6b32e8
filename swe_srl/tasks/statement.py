"""Problem statements for synthesized bugs: what fails and how, not the fix.

The text names the function the failures point at, lists the tests that broke,
and quotes the assertion / exception lines from the test output, the way a
developer files an issue after a regression. It never shows the mutated line
or the expected code.
"""

from __future__ import annotations

import re

_SECTION = re.compile(r"^_{3,} (.+?) _{3,}$", re.M)
_SUMMARY_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)(?: - (.*))?$", re.M)


def failure_excerpts(log: str, max_lines: int = 6) -> dict[str, list[str]]:
    """``{section title: error lines}`` from pytest's ``--tb=short`` output."""
    out: dict[str, list[str]] = {}
    matches = list(_SECTION.finditer(log))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(log)
        body = log[m.end():end]
        body = body.split("=== short test summary info", 1)[0]
        lines = [ln[1:].strip() for ln in body.splitlines() if ln.startswith("E ")]
        if not lines:
            tail = [ln.strip() for ln in body.strip().splitlines() if re.match(r"^\w*(Error|Exception)\b", ln.strip())]
            lines = tail[-1:]
        if lines:
            out[m.group(1).strip()] = lines[:max_lines]
    return out


def _title_for(test: str) -> str:
    """pytest's section title for a test id: ``Class.test_x`` / ``test_x[p]``."""
    parts = test.split("::")[1:]
    return ".".join(parts) if parts else test


def summary_messages(log: str) -> dict[str, str]:
    """``{test id: message}`` from the short test summary (``FAILED id - message``)."""
    return {m.group(1): (m.group(2) or "").strip() for m in _SUMMARY_FAILED.finditer(log)}


def write_problem_statement(
    *,
    function: str,
    path: str,
    fail_to_pass: list[str],
    log: str,
    project: str,
    max_tests: int = 8,
    max_quoted: int = 3,
) -> str:
    """An issue-style description of a regression."""
    n = len(fail_to_pass)
    where = f"`{function}` in `{path}`" if function else f"`{path}`"
    lines = [
        f"Regression in {project}: {where} misbehaves",
        "",
        f"After a recent change, {n} test{'s' if n != 1 else ''} that used to pass now fail{'' if n != 1 else 's'}"
        f" and the failures point at {where}.",
        "",
        "Failing tests:",
        "",
    ]
    lines += [f"- `{t}`" for t in fail_to_pass[:max_tests]]
    if n > max_tests:
        lines.append(f"- ... and {n - max_tests} more")
    excerpts = failure_excerpts(log)
    messages = summary_messages(log)
    quoted = 0
    blocks: list[str] = []
    for test in fail_to_pass:
        if quoted >= max_quoted:
            break
        body = excerpts.get(_title_for(test))
        if not body and messages.get(test):
            body = [messages[test]]
        if not body:
            continue
        body = [b if len(b) <= 300 else b[:300] + " ..." for b in body]
        blocks += ["", f"`{test}` fails with:", "", "```", *body, "```"]
        quoted += 1
    if blocks:
        lines += ["", "What the failures look like:", *blocks]
    lines += [
        "",
        "The rest of the test suite still passes. Expected: these tests pass again without changing them;"
        " the fix belongs in the library code.",
    ]
    return "\n".join(lines) + "\n"
