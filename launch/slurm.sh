#!/usr/bin/env bash
# Multi-node, multi-GPU under SLURM: one task per node, each task drives all GPUs of its node.
#   sbatch --nodes=4 --ntasks-per-node=1 --gpus-per-node=8 launch/slurm.sh configs/vim_celeba.py /shared/runs/celeba
# The coordinator is the first node of the allocation, on port $MI_VAE_PORT (default 12355);
# every process computes the same global batch order and feeds only its own shard.
# The workdir must be on a filesystem all nodes see (checkpoints are written by all processes).
#SBATCH --job-name=mi_vae
#SBATCH --ntasks-per-node=1
#SBATCH --exclusive
set -euo pipefail
config=${1:?usage: sbatch launch/slurm.sh CONFIG WORKDIR [flags...]}; workdir=${2:?usage: sbatch launch/slurm.sh CONFIG WORKDIR [flags...]}
shift 2
cd "${SLURM_SUBMIT_DIR:-$(dirname "$0")/..}"
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
coordinator=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
port=${MI_VAE_PORT:-12355}
srun --ntasks="$SLURM_NNODES" --ntasks-per-node=1 bash -c "
  exec $PY -m mi_vae.main --config='$config' --workdir='$workdir' --distributed \
    --coordinator_address=$coordinator:$port --num_processes=\$SLURM_NTASKS --process_id=\$SLURM_PROCID $*"
