"""The demo's closing summary: the comparison table (base / SFT / SRL / SFT then SRL) and the stages.

Usage (from scripts/demo.sh): python scripts/demo_summary.py OUT T0 STAGE_SECONDS_JSON SIZE

Writes OUT/comparison.json and OUT/comparison.md (the table as Markdown, as pasted into the
README) and prints both tables; the last line is the path of the HTML report.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

MODELS = ("base", "sft", "srl", "sft-srl")
LABELS = {"base": "base (SmolLM2-135M-Instruct)", "sft": "SFT", "srl": "SRL", "sft-srl": "SFT then SRL"}


def load(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def resolved(report: dict) -> str:
    if not report:
        return "-"
    return f"{report.get('resolved_instances', 0)}/{report.get('total_instances', 0)}"


def comparison(out: Path) -> list[dict]:
    rows = []
    for name in MODELS:
        score = load(out / "scores" / f"{name}.json")
        train = load(out / "train" / name / "summary.json")
        rows.append({
            "model": name,
            "label": LABELS[name],
            "samples": score.get("samples"),
            "format_valid_rate": score.get("format_valid_rate"),
            "mean_similarity": score.get("mean_similarity"),
            "exact_match_rate": score.get("exact_match_rate"),
            "same_tool_similarity": score.get("same_tool_similarity"),
            "agent_resolved": resolved(load(out / "eval" / name / "report.json")),
            "oracle_resolved": resolved(load(out / "eval" / f"oracle-{name}" / "report.json")),
            "train_steps": train.get("global_step"),
            "train_wall_s": train.get("wall_s"),
        })
    return rows


def fmt(v, pct: bool = False) -> str:
    if not isinstance(v, (int, float)):
        return "-"
    return f"{100 * v:.1f}%" if pct else f"{v:.3f}"


def markdown(rows: list[dict], wall_s: float, size: str) -> str:
    lines = [
        "| model | format-valid | mean similarity | same-tool similarity | exact match | resolved (agent) | resolved (oracle-edit) | train steps |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {fmt(r['format_valid_rate'], True)} | {fmt(r['mean_similarity'])} | {fmt(r['same_tool_similarity'])} | "
            f"{fmt(r['exact_match_rate'], True)} | {r['agent_resolved']} | {r['oracle_resolved']} | {r['train_steps'] or '-'} |"
        )
    n = next((r["samples"] for r in rows if r["samples"]), "?")
    lines.append("")
    lines.append(f"{n} held-out steps (validation split, by trajectory); DEMO_SIZE={size}; whole demo {wall_s / 60:.1f} min.")
    return "\n".join(lines)


def main() -> None:
    out, t0 = Path(sys.argv[1]), int(sys.argv[2])
    stages = json.loads(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3].strip() else {}
    size = sys.argv[4] if len(sys.argv) > 4 else "full"
    wall = time.time() - t0
    rows = comparison(out)
    (out / "comparison.json").write_text(json.dumps({"rows": rows, "wall_s": round(wall, 1), "size": size,
                                                     "stage_s": stages}, indent=2))
    (out / "comparison.md").write_text(markdown(rows, wall, size) + "\n")

    console = Console()
    t = Table(title="Did training help? (held-out steps, greedy)", title_justify="left")
    for col in ("model", "format-valid", "mean similarity", "same-tool similarity", "exact match", "resolved (agent)",
                "resolved (oracle-edit)"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["label"], fmt(r["format_valid_rate"], True), fmt(r["mean_similarity"]), fmt(r["same_tool_similarity"]),
                  fmt(r["exact_match_rate"], True), r["agent_resolved"], r["oracle_resolved"])
    console.print(t)

    s = Table(title=f"swe-srl demo ({wall:.0f} s)", title_justify="left")
    s.add_column("stage")
    s.add_column("result")
    conv = load(out / "traj" / "report.json")
    s.add_row("convert", f"{conv.get('trajectories', '?')} trajectories, {conv.get('steps', '?')} steps -> {out}/traj")
    stats = load(out / "data" / "srl" / "stats.json")
    rows_n = stats.get("rows", {})
    if isinstance(rows_n, dict):
        s.add_row("datasets", f"{rows_n.get('train', '?')} train / {rows_n.get('validation', '?')} held-out steps -> {out}/data")
    for name in ("sft", "srl", "sft-srl"):
        summ = load(out / "train" / name / "summary.json")
        last = summ.get("last_logged") or {}
        parts = [f"{summ.get('global_step', '?')} steps"]
        for label, v in (("reward", last.get("reward")), ("loss", last.get("loss"))):
            if isinstance(v, (int, float)):
                parts.append(f"{label} {v:.3f}")
        s.add_row(f"train {name}", ", ".join(parts))
    for name in ("gold", "expert-replay"):
        r = load(out / "eval" / name / "report.json")
        if r:
            s.add_row(f"eval {name}", f"resolved {resolved(r)}")
    for k, v in sorted(stages.items(), key=lambda kv: -kv[1]):
        s.add_row(f"time: {k}", f"{v} s")
    console.print(s)
    print(f"comparison: {out / 'comparison.md'}")
    print(f"report: {out / 'report.html'}")


if __name__ == "__main__":
    main()
