#!/usr/bin/env bash
# TPU VM pod slice: install and run the same command on every worker; JAX finds its peers itself.
#   launch/tpu_pod.sh TPU_NAME ZONE configs/vim_celeba.py gs://bucket/runs/celeba [flags...]
# The workdir should be a GCS path or a shared filesystem so every worker's Orbax writes land together.
set -euo pipefail
tpu=${1:?usage: launch/tpu_pod.sh TPU_NAME ZONE CONFIG WORKDIR [flags...]}; zone=${2:?}; config=${3:?}; workdir=${4:?}
shift 4
repo=${MI_VAE_REPO:-https://github.com/your-org/mi_vae.git}
gcloud compute tpus tpu-vm ssh "$tpu" --zone="$zone" --worker=all --command="
  set -e
  [ -d mi_vae ] || git clone '$repo' mi_vae
  cd mi_vae && git pull --ff-only
  python3 -m venv .venv && .venv/bin/pip install -q -e '.[tpu]'
  MI_VAE_DISTRIBUTED=1 .venv/bin/python -m mi_vae.main --config='$config' --workdir='$workdir' $*"
