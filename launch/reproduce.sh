#!/usr/bin/env bash
# Reruns the experiments behind RESULTS.md and regenerates its tables from each run's eval/metrics.json.
#   launch/reproduce.sh [RUNS_DIR] [SECTION ...]      sections: mae vmi   (default: all)
# Each run is `python -m mi_vae.main --config=... --workdir=RUNS_DIR/<name>`; a finished run is skipped
# (its workdir already has eval/metrics.json), an interrupted one resumes from its checkpoint.
# Time on the 2-core CPU this was written on: mae ~25 min, vmi ~15 min.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-runs/reproduce}; shift || true
sections=${*:-mae vmi}
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}

run() {  # run NAME CONFIG [flags...]
  local name=$1 config=$2; shift 2
  [ -f "$runs/$name/eval/metrics.json" ] && return 0
  "$PY" -m mi_vae.main --config="$config" --workdir="$runs/$name" "$@" 2>"$runs/$name.log" || {
    echo "failed: $name (see $runs/$name.log)" >&2; return 1; }
}
mkdir -p "$runs"

for section in $sections; do
  case $section in
    mae)  # Mutual Autoencoder figure 2: achieved vs target MI
      for seed in 0 1 2; do for M in 0 0.5 1 1.5 2; do
        run "mae_normal_M${M}_s${seed}" "configs/mae_splitting_normal.py:M=$M" --config.seed=$seed
      done; done
      for M in 0 0.5 1 1.5 2; do
        run "mae_categorical_M${M}_s0" "configs/mae_categorical.py:M=$M" --config.seed=0
      done ;;
    vmi)  # VMI thesis 4.4: cluster accuracy of the categorical code with and without the MI term (digits)
      for seed in 0 1 2; do for lam in 0 1; do
        run "vmi_digits_l${lam}_s${seed}" "configs/vmi_categorical.py:dataset=digits,lambda_=$lam" --config.seed=$seed
      done; done ;;
    *) echo "unknown section $section (valid: mae vmi)" >&2; exit 2 ;;
  esac
done
"$PY" -m mi_vae.evaluation.results "$runs"
