#!/usr/bin/env bash
# Single machine, all its devices (CPU, one or several GPUs): the engine shards the global batch over them.
#   launch/local.sh configs/infomax_vae.py runs/infomax [--config.key=value ...]
# Simulate N devices on a CPU:  XLA_FLAGS=--xla_force_host_platform_device_count=8 launch/local.sh ...
set -euo pipefail
config=${1:?usage: launch/local.sh CONFIG WORKDIR [flags...]}; workdir=${2:?usage: launch/local.sh CONFIG WORKDIR [flags...]}
shift 2
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
exec "$PY" -m mi_vae.main --config="$config" --workdir="$workdir" "$@"
