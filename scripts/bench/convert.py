#!/usr/bin/env python3
"""Benchmark: `swe-srl convert` throughput against a bare JSON parse of the same bytes.

Design choices:
- input: the shared agent-log samples (every JSON / JSONL / .traj file, all
  formats) copied into a temporary directory as many times as needed to reach
  --target-mb (default 50 MB); each copy sits in its own sub-directory, like
  separate runs;
- convert: the library call behind the CLI (`swe_srl.trajectories.convert.convert`:
  listing, per-file detection, parsing, normalising, writing trajectories.jsonl
  and report.json), output to a temporary directory;
- baseline, measured in the same run on the same files: reading each file and
  `json.loads` of it (one document, or one call per line for JSONL), i.e. the
  least any converter has to do. orjson's parse time is shown too, for context;
- the measurements are interleaved and repeated (--repeats, default 3), and
  the fastest run of each is kept, so the ratio holds on a busy machine;
- cost_ratio = convert time / json.loads time (goal: <= 2.5).

Usage: .venv/bin/python scripts/bench/convert.py [--json PATH] [--target-mb 50] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

DEFAULT_SAMPLES = Path(os.environ.get("SWE_SRL_SHARED", ROOT.parent / "shared")) / "trajectory-samples"
SUFFIXES = (".json", ".jsonl", ".traj")


def sample_files(samples: Path) -> list[Path]:
    files = sorted(p for p in samples.rglob("*") if p.is_file() and p.suffix in SUFFIXES and not p.name.startswith("."))
    if not files:
        raise SystemExit(f"no samples under {samples}")
    return files


def make_corpus(samples: Path, dest: Path, target_bytes: int) -> tuple[list[Path], int]:
    files = sample_files(samples)
    size = sum(p.stat().st_size for p in files)
    copies = max(1, -(-target_bytes // size))
    out = []
    for i in range(copies):
        for p in files:
            target = dest / f"copy-{i:03d}" / p.relative_to(samples)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, target)
            out.append(target)
    return out, size * copies


def bare_parse(files: list[Path], loads) -> None:
    for p in files:
        data = p.read_bytes()
        if p.suffix == ".jsonl":
            for line in data.splitlines():
                if line.strip():
                    loads(line)
        else:
            loads(data)


def best_of(repeats: int, fn) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES)
    ap.add_argument("--target-mb", type=float, default=50.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write the figures to this JSON file")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one conversion")
    args = ap.parse_args()

    import orjson

    from swe_srl.trajectories.convert import convert

    with tempfile.TemporaryDirectory(prefix="bench-convert-") as tmp:
        tmp_path = Path(tmp)
        files, total = make_corpus(args.samples, tmp_path / "in", int(args.target_mb * 1e6))
        mb = total / 1e6
        out = tmp_path / "out"
        # warm the page cache and the parser imports
        bare_parse(files, json.loads)
        convert([tmp_path / "in"], out)

        # interleaved, so the baseline and the conversion see the same machine load
        t_json = t_orjson = t_conv = float("inf")
        report: dict = {}
        for _ in range(args.repeats):
            t_json = min(t_json, best_of(1, lambda: bare_parse(files, json.loads))[0])
            t_orjson = min(t_orjson, best_of(1, lambda: bare_parse(files, orjson.loads))[0])
            t, report = best_of(1, lambda: convert([tmp_path / "in"], out))  # type: ignore[assignment]
            t_conv = min(t_conv, t)
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            convert([tmp_path / "in"], out)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)

    steps = report["steps"]
    figures = {
        "mb_per_s": round(mb / t_conv, 2),
        "steps_per_s": round(steps / t_conv, 1),
        "json_parse_mb_per_s": round(mb / t_json, 2),
        "cost_ratio": round(t_conv / t_json, 3),
        "orjson_parse_mb_per_s": round(mb / t_orjson, 2),
        "input_mb": round(mb, 2),
        "files": report["files"]["total"],
        "trajectories": report["trajectories"],
        "steps": steps,
        "convert_s": round(t_conv, 3),
        "json_loads_s": round(t_json, 3),
        "repeats": args.repeats,
    }

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"convert benchmark: {mb:.1f} MB, {figures['files']} files, {steps} steps (best of {args.repeats})",
                  title_justify="left")
    for col in ("what", "seconds", "MB/s", "steps/s"):
        table.add_column(col, justify="left" if col == "what" else "right")
    table.add_row("swe-srl convert", f"{t_conv:.2f}", f"{mb / t_conv:.1f}", f"{steps / t_conv:.0f}")
    table.add_row("read + json.loads (baseline)", f"{t_json:.2f}", f"{mb / t_json:.1f}", "")
    table.add_row("read + orjson.loads (context)", f"{t_orjson:.2f}", f"{mb / t_orjson:.1f}", "")
    table.add_row("[bold]cost_ratio[/] (convert / json.loads)", f"{t_conv / t_json:.2f}", "", "")
    Console().print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
