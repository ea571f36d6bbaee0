#!/usr/bin/env bash
# Reruns the experiments behind RESULTS.md and regenerates its tables from each run's eval/metrics.json.
#   launch/reproduce.sh [RUNS_DIR] [SECTION ...]
#   sections: bounds infomax infovae vimae vimae_wae mae vmi vmi_fmnist vmi_fmnist_sweep vmi_eq45 vmi_subvector pixelcnn text
#   text_paper (default: all)
#   JOBS=N runs N trainings at once (default 1; on one GPU: JOBS=16 XLA_PYTHON_CLIENT_MEM_FRACTION=0.045).
#   Shorter runs, for a CPU: SEEDS="0" (default "0 1 2"), IM_EPOCHS=5 (InfoMax grid, default 10),
#   IM_DEPTHS="2 4" (InfoMax grid decoder depths, default "2 4 10"),
#   VIM_EPOCHS=1 (VIMAE, default 10), INFOVAE_EPOCHS=1 (InfoVAE, default 10),
#   TEXT_STEPS=3000 (default 8000), TEXT_NET="hidden=64,embed=32" (default: the config's 256 and 128),
#   TEXT_M="0 5 10" (default "0 2 5 10 15"), TEXT_PAPER_M="0 10" (text_paper's targets, default "0 2 5 10").
#   EVALS=elbo,mi,probe,generation runs only these evaluators of each run (default: all of its config.evals).
# Each run is `python -m mi_vae.main --config=... --workdir=RUNS_DIR/<name>`; a finished run is skipped
# (its workdir already has eval/metrics.json), an interrupted one resumes from its checkpoint.
# Run names are <experiment>_<setting>_s<seed>; at the end `python -m mi_vae.evaluation.results RUNS_DIR`
# prints the tables (saved to RUNS_DIR/tables.md) and draws the curves across runs in RUNS_DIR/figures/ (each
# run's own figures, samples, histograms and traversals, are in RUNS_DIR/<name>/eval/; RESULTS.md shows
# copies from docs/results/).
# Times (see RESULTS.md for the measured ones): mae ~25 min, vmi ~15 min, and vimae with VIM_EPOCHS=1
# ~6 min a run (15 runs in ~100 min), infovae with INFOVAE_EPOCHS=1 JOBS=2 ~9 min a pair (30 runs ~2.5 h),
# vmi_fmnist_sweep ~2.5 min a run (21 runs in 52 min, JOBS=1 beside two other trainings),
# on a 2-core CPU; the GPU
# sections were run on one H100 with JOBS=16, where sixteen runs sharing the GPU finished about one run per
# 30 s: the default (all sections, 149 runs) is then ~1.5 h on one H100, an extrapolation (it has not been run
# whole), longer for pixelcnn and text (8000 steps each).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-runs/reproduce}; shift || true
sections=${*:-bounds infomax infovae vimae vimae_wae mae vmi vmi_fmnist vmi_fmnist_sweep vmi_eq45 vmi_subvector pixelcnn text text_paper}
export PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export RUNS=$runs
JOBS=${JOBS:-1}
SEEDS=${SEEDS:-0 1 2}
IM_EPOCHS=${IM_EPOCHS:-10}
IM_DEPTHS=${IM_DEPTHS:-2 4 10}
VIM_EPOCHS=${VIM_EPOCHS:-10}
INFOVAE_EPOCHS=${INFOVAE_EPOCHS:-10}
TEXT_STEPS=${TEXT_STEPS:-8000}
TEXT_NET=${TEXT_NET:+,$TEXT_NET}
TEXT_M=${TEXT_M:-0 2 5 10 15}
TEXT_PAPER_M=${TEXT_PAPER_M:-0 2 5 10}
queue=()

run() {  # run NAME CONFIG [flags...]: queue one training + evaluation
  local line
  printf -v line '%q ' "$@"
  queue+=("$line")
}

run_one() {  # run_one NAME CONFIG [flags...]
  local name=$1 config=$2; shift 2
  [ -f "$RUNS/$name/eval/metrics.json" ] && return 0
  if "$PY" -m mi_vae.main --config="$config" --workdir="$RUNS/$name" ${EVALS:+--evals="$EVALS"} "$@" \
      2>"$RUNS/$name.log"; then
    echo "done: $name" >&2
  else
    echo "failed: $name (see $RUNS/$name.log)" >&2; return 1
  fi
}
export -f run_one
mkdir -p "$runs"

for section in $sections; do
  case $section in
    infomax)  # InfoMax-VAE tables II-III: MLP decoders of depth 2, 4, 10, latent 20, Fashion-MNIST, 10 epochs
      common=(--config.batch_size=64 --config.num_epochs=$IM_EPOCHS --config.model.latent_dim=20)
      for seed in $SEEDS; do for d in $IM_DEPTHS; do
        run "infomax_vae-d${d}_s${seed}" "configs/vae.py:decoder_depth=$d" "${common[@]}" --config.seed=$seed
        run "infomax_betavae-d${d}_s${seed}" "configs/beta_vae.py:decoder_depth=$d" "${common[@]}" --config.seed=$seed
        run "infomax_infovae-d${d}_s${seed}" "configs/infovae_mmd.py:net=mlp,decoder_depth=$d" "${common[@]}" \
          --config.seed=$seed
        run "infomax_infomax-d${d}_s${seed}" "configs/infomax_vae.py:net=mlp,decoder_depth=$d" "${common[@]}" \
          --config.seed=$seed
      done; done ;;
    bounds)  # InfoMax-VAE's five MI bounds at the default config (1000 steps, batch 64); table:
      # python -m benchmarks.mi_bounds table RUNS --step-times <python -m benchmarks.mi_bounds time --out FILE>
      for seed in $SEEDS; do for b in nwj dv js infonce smile; do
        run "bound_${b}_s${seed}" "configs/default.py:mi_bound=$b" --config.seed=$seed --evals=elbo,mi
      done; done ;;
    infovae)  # InfoVAE figure 3 / table 1: five objectives at latent 10 and 40 (conv28 nets, 10 epochs)
      for seed in $SEEDS; do for z in 10 40; do for r in elbo mmd stein adversarial ae; do
        run "infovae_${r}-z${z}_s${seed}" "configs/infovae_${r}.py:latent_dim=$z,epochs=$INFOVAE_EPOCHS" --config.seed=$seed
      done; done; done ;;
    vimae)  # VIMAE tables II-V on Fashion-MNIST: VAE, beta_H, beta_A, VIMAE-n, VIMAE-l (10 epochs)
      e=$VIM_EPOCHS
      for seed in $SEEDS; do
        run "vimae_vae_s${seed}" "configs/vim_beta_h.py:beta=1,epochs=$e" --config.seed=$seed
        run "vimae_betaH_s${seed}" "configs/vim_beta_h.py:epochs=$e" --config.seed=$seed
        run "vimae_betaA_s${seed}" "configs/vim_beta_a.py:epochs=$e" --config.seed=$seed
        run "vimae_vimaeN_s${seed}" "configs/vim_normal.py:epochs=$e" --config.seed=$seed
        run "vimae_vimaeL_s${seed}" "configs/vim_logistic.py:epochs=$e" --config.seed=$seed
      done ;;
    vimae_wae)  # VIMAE-n / VIMAE-l with equal kernels, under the likelihood and under WAE's cost 0.05 ||x - x_hat||^2
      e=$VIM_EPOCHS
      for seed in $SEEDS; do for prior in normal logistic; do for cost in likelihood wae_l2; do
        run "vimae_${prior}-${cost//_/}-unitkernel_s${seed}" "configs/vim_${prior}.py:epochs=$e" \
          --config.method.reconstruction=$cost --config.method.kernel_scale=unit --config.seed=$seed
      done; done; done ;;
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
    vmi_fmnist)  # the same on Fashion-MNIST (conv28 nets, 6000 steps), and the setting vmi_fmnist_sweep found
      for seed in 0 1 2; do
        for lam in 0 1; do
          run "vmi_fmnist_l${lam}_s${seed}" "configs/vmi_categorical.py:lambda_=$lam,steps=6000" --config.seed=$seed
        done
        run "vmi_fmnist_aggregate-l10_s${seed}" "configs/vmi_categorical.py:lambda_=10,steps=6000" \
          --config.method.code_entropy=aggregate --config.seed=$seed
      done ;;
    vmi_fmnist_sweep)  # why vmi_fmnist fails: lambda x the H(c) estimate (prior log K | batch aggregate), MLP nets
      for seed in $SEEDS; do
        run "vmi_fmnistmlp_prior-l0_s${seed}" "configs/vmi_categorical.py:lambda_=0,steps=6000,net=mlp" \
          --config.seed=$seed
        for lam in 1 10 100; do for h in prior aggregate; do
          run "vmi_fmnistmlp_${h}-l${lam}_s${seed}" "configs/vmi_categorical.py:lambda_=$lam,steps=6000,net=mlp" \
            --config.method.code_entropy=$h --config.seed=$seed
        done; done
      done ;;
    vmi_eq45)  # the VMI bound as derived (eq. 4.5: c ~ p(c), decoded, read back by Q), digits and Fashion-MNIST (MLP)
      for seed in $SEEDS; do
        for lam in 1 10; do
          run "vmi_digits_eq45-l${lam}_s${seed}" "configs/vmi_categorical.py:dataset=digits,lambda_=$lam,mi_samples=prior" \
            --config.seed=$seed
        done
        for lam in 1 10 100; do
          run "vmi_fmnistmlp_eq45-l${lam}_s${seed}" \
            "configs/vmi_categorical.py:lambda_=$lam,steps=6000,net=mlp,mi_samples=prior" --config.seed=$seed
        done
      done ;;
    vmi_subvector)  # VMI thesis 4.4: traversals of the two MI dims for lambda in {0, 0.001, 0.005, 0.01}
      for lam in 0 0.001 0.005 0.01; do
        run "vmi_subvector_l${lam}_s0" "configs/vmi_subvector.py:lambda_=$lam,steps=6000"
      done ;;
    pixelcnn)  # InfoVAE figure 1: MI over training with a PixelCNN decoder, ELBO vs MMD vs AE
      for m in elbo mmd ae; do
        run "pixelcnn_${m}_s0" "configs/infovae_pixelcnn.py:method=$m,steps=8000"
      done ;;
    text)  # Mutual Autoencoder figure 3: reconstruction rates vs M on fortunes sentences
      for M in $TEXT_M; do
        run "maetext_M${M}_s0" "configs/mae_text.py:M=$M,steps=$TEXT_STEPS$TEXT_NET"
      done ;;
    text_paper)  # figure 3 as the paper ran it: flexible encoder (k = 5), <= 8 words, training sentences reconstructed
      for seed in $SEEDS; do for M in $TEXT_PAPER_M; do
        run "maetextpaper_M${M}_s${seed}" "configs/mae_text.py:M=$M,steps=$TEXT_STEPS$TEXT_NET,flexible=5,dataset=fortunes8,split=train" \
          --config.seed="$seed"
      done; done ;;
    *) echo "unknown section $section" >&2; exit 2 ;;
  esac
done

status=0
if [ "${#queue[@]}" -gt 0 ]; then
  printf '%s\n' "${queue[@]}" | xargs -d '\n' -P "$JOBS" -n 1 bash -c 'eval "run_one $1"' _ || status=1
fi
"$PY" -m mi_vae.evaluation.results "$runs" --figures "$runs/figures" | tee "$runs/tables.md"
exit $status
