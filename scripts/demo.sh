#!/usr/bin/env bash
# scripts/demo.sh: the whole swe-srl pipeline in one recipe (`make demo`).
#
# Choices, top to bottom:
# 1. Expert data = the project's own recordings (trajectories/examples/, made by
#    scripts/record_examples.py on tasks synthesized from real PyPI projects, in
#    Docker, graded resolved) plus ../shared/trajectory-samples when present.
# 2. The model is a tiny random Qwen2 built offline (no hub here); on a GPU
#    machine set DEMO_MODEL to a real checkpoint and the *_CONFIG variables to the
#    GPU configs (see README, "Running the demo on a GPU"). Training is SRL
#    (GRPO + dynamic sampling, LoRA) and then the SFT baseline on the same prompts.
# 3. Tasks are synthesized from pinned PyPI sdists (boltons, more-itertools):
#    deterministic, so the recorded expert trajectories replay on them.
# 4. Everything is graded by the harness (real tests in Docker sandboxes), and
#    one HTML report gathers it (swe-srl report).
# DEMO_SIZE=small (CI) shrinks steps and task counts; every stage still runs.
# Re-running resumes: finished stages are skipped by the commands themselves
# (eval/run skip finished instances) or redone quickly.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=${DEMO_SIZE:-full}
OUT=${DEMO_OUT:-runs/demo}
SRL_CONFIG=${SRL_CONFIG:-configs/srl_tiny_cpu.yaml}
SFT_CONFIG=${SFT_CONFIG:-configs/sft_tiny_cpu.yaml}
MODEL=${DEMO_MODEL:-}
PYPI=${DEMO_PYPI:-"boltons==24.0.0 more-itertools==10.5.0"}
SHARED_SAMPLES=${SHARED_SAMPLES:-../shared/trajectory-samples}
if [ "$SIZE" = "small" ]; then
  SRL_STEPS=4; SFT_STEPS=6; TASKS_PER_PROJECT=3; AGENT_STEPS=3; MAX_TOKENS=1024
else
  SRL_STEPS=30; SFT_STEPS=40; TASKS_PER_PROJECT=3; AGENT_STEPS=8; MAX_TOKENS=2048
fi
SWE=${SWE_SRL:-.venv/bin/swe-srl}
mkdir -p "$OUT"
stage() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
T0=$(date +%s)

stage "1/6 convert expert trajectories -> $OUT/traj"
inputs=(trajectories/examples)
[ -d "$SHARED_SAMPLES" ] && inputs+=("$SHARED_SAMPLES")
$SWE convert "${inputs[@]}" --out "$OUT/traj"

stage "2/6 model"
if [ -z "$MODEL" ]; then
  MODEL="$OUT/model/tiny"
  [ -f "$MODEL/config.json" ] || $SWE model init-tiny --out "$MODEL"
fi
echo "model: $MODEL"

stage "3/6 step-wise datasets (SRL and SFT) -> $OUT/data"
$SWE dataset "$OUT/traj/trajectories.jsonl" --out "$OUT/data/srl" --kind srl --context-steps 2 \
  --max-prompt-tokens "$MAX_TOKENS" --tokenizer "$MODEL"
$SWE dataset "$OUT/traj/trajectories.jsonl" --out "$OUT/data/sft" --kind sft --context-steps 2 \
  --max-prompt-tokens "$MAX_TOKENS" --tokenizer "$MODEL"

stage "4/6 training: SRL (GRPO + dynamic sampling), then the SFT baseline -> $OUT/train"
$SWE train --config "$SRL_CONFIG" model="$MODEL" dataset="$OUT/data/srl" output_dir="$OUT/train/srl" \
  max_steps="$SRL_STEPS" save_steps="$SRL_STEPS"
$SWE train --config "$SFT_CONFIG" model="$MODEL" dataset="$OUT/data/sft" output_dir="$OUT/train/sft" \
  max_steps="$SFT_STEPS" save_steps="$SFT_STEPS"

stage "5/6 tasks from real PyPI projects, the trained policies as agents, expert replay -> $OUT/tasks.jsonl, $OUT/agent"
for req in $PYPI; do
  $SWE tasks synthesize --pypi "$req" --max "$TASKS_PER_PROJECT" --seed 0 --out "$OUT/tasks.jsonl"
done
for policy in srl sft; do
  $SWE run --tasks "$OUT/tasks.jsonl" --policy "hf:$OUT/train/$policy/adapter" --out "$OUT/agent/$policy" \
    --max-steps "$AGENT_STEPS" --workers 2 --model-name "tiny-$policy"
done
$SWE run --tasks "$OUT/tasks.jsonl" --policy "replay:trajectories/examples/pypi-expert.jsonl" \
  --out "$OUT/agent/expert-replay" --workers 2 --model-name expert-replay

stage "6/6 grading with the harness -> $OUT/eval, and the report"
$SWE eval --tasks "$OUT/tasks.jsonl" --predictions gold --run-id demo-gold --out "$OUT/eval/gold" --workers 2
for policy in srl sft expert-replay; do
  $SWE eval --tasks "$OUT/tasks.jsonl" --predictions "$OUT/agent/$policy/predictions.jsonl" \
    --run-id "demo-$policy" --out "$OUT/eval/$policy" --workers 2
done
$SWE report "$OUT"

.venv/bin/python - "$OUT" "$T0" <<'PY'
import json, sys, time
from pathlib import Path
from rich.console import Console
from rich.table import Table
out, t0 = Path(sys.argv[1]), int(sys.argv[2])
load = lambda p: json.loads(p.read_text()) if p.is_file() else {}
conv = load(out / "traj/report.json")
srl_stats, sft_stats = load(out / "data/srl/stats.json"), load(out / "data/sft/stats.json")
rows = lambda st: (st.get("rows") or {}).get("total", st.get("rows", "?")) if isinstance(st.get("rows"), dict) else st.get("rows", "?")
t = Table(title=f"swe-srl demo ({time.time() - t0:.0f} s)", title_justify="left")
t.add_column("stage"); t.add_column("result")
t.add_row("convert", f"{conv.get('trajectories', '?')} trajectories, {conv.get('steps', '?')} steps -> {out}/traj")
t.add_row("datasets", f"SRL {rows(srl_stats)} rows, SFT {rows(sft_stats)} rows -> {out}/data")
for m in ("srl", "sft"):
    s = load(out / f"train/{m}/summary.json")
    last = s.get("last_logged") or {}
    val = (s.get("validation") or [{}])[-1]
    parts = [f"{s.get('global_step', '?')} steps"]
    for label, v in (("reward", last.get("reward")), ("loss", last.get("loss")),
                     ("val. similarity", val.get("validation/similarity"))):
        if isinstance(v, (int, float)):
            parts.append(f"{label} {v:.3f}")
    t.add_row(f"train {m}", ", ".join(parts))
for name in ("gold", "srl", "sft", "expert-replay"):
    r = load(out / f"eval/{name}/report.json")
    if r:
        t.add_row(f"eval {name}", f"resolved {r.get('resolved_instances')}/{r.get('total_instances')}")
Console().print(t)
print(f"report: {out / 'report.html'}")
PY
