#!/usr/bin/env bash
# scripts/setup_docker.sh: make sure a Docker engine answers (installing and starting
# it when running as root), then build the default sandbox base image if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

engine_up() { docker info >/dev/null 2>&1; }

if ! engine_up; then
  if [ "$(id -u)" != "0" ]; then
    echo "[setup] no Docker engine answers and we are not root: start one yourself to use the sandboxes" >&2
    exit 0
  fi
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
    echo "[setup] installing docker.io and debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io debootstrap >/dev/null
  fi
  echo "[setup] starting dockerd"
  mkdir -p /var/log
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do engine_up && break; sleep 1; done
  engine_up || { echo "[setup] dockerd did not start; see /var/log/dockerd.log" >&2; tail -20 /var/log/dockerd.log >&2; exit 1; }
fi
echo "[setup] Docker engine is up"

# debootstrap builds the base images (root only); an engine may be up without it.
if [ "$(id -u)" = "0" ] && ! command -v debootstrap >/dev/null 2>&1; then
  echo "[setup] installing debootstrap"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq debootstrap >/dev/null
fi

# Base image for the sandboxes (no registry needed): Debian minbase via debootstrap
# (about a minute, needs root), then cached: an unchanged definition in
# sandboxes/base/bookworm.yaml is never rebuilt. Other Pythons build on first use.
if [ -x .venv/bin/swe-srl ] && .venv/bin/swe-srl sandbox build --help >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    .venv/bin/swe-srl sandbox build --base-only --python 3.11
  else
    .venv/bin/swe-srl sandbox build --base-only --python 3.11 \
      || echo "[setup] the sandbox base image needs root to build: run 'sudo .venv/bin/swe-srl sandbox build --base-only'" >&2
  fi
fi
