"""Replay validation: did replaying a recorded trajectory in our sandbox
reproduce the recorded final patch, and if not, where and why did it diverge?

Patches are compared by their changed lines per file, after normalising line
endings and whitespace (so CRLF submissions, trailing blanks, different hunk
context or ``index`` lines do not count as differences). The diagnosis walks
the replayed steps next to the recorded ones and names the first step whose
outcome differs (a tool the sandbox does not have, a command that failed or
timed out, an observation unlike the recorded one). Recorded format-error
turns are replayed as format errors (nothing executed; they are in the
replayed trajectory's ``meta["format_errors"]``, not its steps), so they are
left out of the step-by-step walk and counted apart.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from swe_srl.trajectories.models import Trajectory

OBSERVATION_SIMILARITY = 0.5
"""Below this (rapidfuzz ratio of whitespace-normalised texts), an observation diverges."""


def normalize_patch(patch: str | None) -> dict[str, list[str]]:
    """``{path: [changed lines]}`` of a unified diff, whitespace- and EOL-normalised
    (trailing blanks dropped, inner runs of blanks collapsed, blank lines ignored).

    >>> normalize_patch("diff --git a/x.py b/x.py\\r\\n--- a/x.py\\r\\n+++ b/x.py\\r\\n@@ -1 +1 @@\\r\\n-a  = 1 \\r\\n+a = 2\\r\\n")
    {'x.py': ['-a = 1', '+a = 2']}

    Indentation is kept: it is part of the change in Python.
    """
    files: dict[str, list[str]] = {}
    current: str | None = None
    text = (patch or "").replace("\r\n", "\n").replace("\r", "\n")
    in_hunk = False
    for line in text.split("\n"):
        m = re.match(r"^diff --git a/(.+?) b/(.+)$", line)
        if m:
            current, in_hunk = m.group(2).strip(), False
            files.setdefault(current, [])
            continue
        if line.startswith("+++ ") and not in_hunk:
            target = line[4:].strip()
            if target != "/dev/null":
                target = target[2:] if target.startswith("b/") else target
                if current is None or current != target:
                    current = target
                    files.setdefault(current, [])
            continue
        if line.startswith("--- ") and not in_hunk:
            continue
        if line.startswith("@@"):
            in_hunk = True
            continue
        if current is None or not in_hunk:
            continue
        if line.startswith(("+", "-")):
            body = _norm_line(line[1:])
            if body.strip():
                files[current].append(line[0] + body)
        elif not line.startswith((" ", "\\")) and line:
            in_hunk = False
    return {p: lines for p, lines in files.items() if lines or p}


@dataclass
class PatchComparison:
    match: bool
    files_only_recorded: list[str] = field(default_factory=list)
    files_only_replayed: list[str] = field(default_factory=list)
    first_difference: dict[str, Any] | None = None
    """``{file, index, recorded, replayed}``: the first changed line that differs."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_patches(recorded: str | None, replayed: str | None) -> PatchComparison:
    a, b = normalize_patch(recorded), normalize_patch(replayed)
    if a == b:
        return PatchComparison(True)
    only_a = sorted(set(a) - set(b))
    only_b = sorted(set(b) - set(a))
    first = None
    for path in [p for p in a if p in b]:
        la, lb = a[path], b[path]
        if la != lb:
            i = next((k for k in range(min(len(la), len(lb))) if la[k] != lb[k]), min(len(la), len(lb)))
            first = {"file": path, "index": i, "recorded": la[i] if i < len(la) else None,
                     "replayed": lb[i] if i < len(lb) else None}
            break
    return PatchComparison(False, only_a, only_b, first)


def _norm_line(line: str) -> str:
    """Indentation kept (it is syntax in Python); trailing blanks dropped, inner runs collapsed."""
    indent = line[: len(line) - len(line.lstrip())]
    return indent + " ".join(line.split())


def _norm(text: str) -> str:
    return " ".join((text or "").split())


def observation_similarity(recorded: str, replayed: str) -> float:
    from rapidfuzz import fuzz

    a, b = _norm(recorded)[:20000], _norm(replayed)[:20000]
    if not a and not b:
        return 1.0
    return fuzz.ratio(a, b) / 100.0


def diagnose(recorded: Trajectory, replayed: Trajectory, exit_reason: str) -> dict[str, Any]:
    """Per-trajectory report: match, and where/why the replay diverged."""
    comparison = compare_patches(recorded.patch, replayed.patch)
    executed = [s for s in recorded.steps if not s.meta.get("format_error")]
    report: dict[str, Any] = {
        "trajectory_id": recorded.id,
        "instance_id": recorded.instance_id,
        "source_format": recorded.source_format,
        "recorded_patch": bool((recorded.patch or "").strip()),
        "match": comparison.match and bool((recorded.patch or "").strip()),
        "patch": comparison.to_dict(),
        "exit_reason": exit_reason,
        "steps_recorded": len(executed),
        "steps_replayed": len(replayed.steps),
        "format_errors_recorded": len(recorded.steps) - len(executed),
        "format_errors_replayed": len(replayed.meta.get("format_errors") or []),
        "divergence": None,
    }
    if report["match"]:
        return report
    if not report["recorded_patch"]:
        report["divergence"] = {"step": None, "why": "the recording has no final patch to compare with"}
        return report
    for i, step in enumerate(replayed.steps):
        rec = executed[i] if i < len(executed) else None
        tool = step.action.tool
        meta = step.meta or {}
        if tool not in ("bash", "str_replace_editor", "submit"):
            report["divergence"] = {"step": i, "tool": tool,
                                    "why": f"tool {tool!r} has no equivalent in the sandbox (only bash, str_replace_editor, submit)"}
            return report
        if meta.get("timed_out"):
            report["divergence"] = {"step": i, "tool": tool, "why": "the command timed out in the sandbox",
                                    "action": step.action.render()[:300]}
            return report
        if rec is not None and tool != "submit":
            sim = observation_similarity(rec.observation, step.observation)
            if sim < OBSERVATION_SIMILARITY:
                report["divergence"] = {
                    "step": i, "tool": tool, "observation_similarity": round(sim, 3),
                    "why": "the observation differs from the recorded one" + (
                        f" (exit code {meta.get('exit_code')})" if meta.get("exit_code") not in (0, None) else ""),
                    "action": step.action.render()[:300],
                    "recorded_observation": rec.observation[:300],
                    "replayed_observation": step.observation[:300],
                }
                return report
    if exit_reason not in ("submitted",):
        report["divergence"] = {"step": len(replayed.steps), "why": f"the replay ended early ({exit_reason})"}
    else:
        where = comparison.first_difference or {"files_only_recorded": comparison.files_only_recorded,
                                                "files_only_replayed": comparison.files_only_replayed}
        report["divergence"] = {"step": None, "why": "every step behaved alike but the final patches differ",
                                "where": where}
    return report
