#!/usr/bin/env bash
# Two steps of the demo pretraining on GPU through the rule's own code path: snakemake rule pretrain ->
# workflow/scripts/pretrain.py -> ccrk.launch -> run_pretraining -> train_loop with AMP (pretrain.precision: fp16 +
# GradScaler by default; PRECISION=bf16 for bfloat16).
# It proves the device path works; it awaits a GPU (see bench/README.md).
#   bench/gpu_demo_pretrain.sh              one GPU, in the job's own process
#   GPUS=2 bench/gpu_demo_pretrain.sh       two GPUs: torchrun --standalone, NCCL, DDP
#   ALLOW_CPU=1 bench/gpu_demo_pretrain.sh  check the script itself on a machine without a GPU
# Prints the log lines that name the device, the AMP dtype, the process count and the steps; exits 1 if the
# run did not train on CUDA (unless ALLOW_CPU=1) or did not finish 2 steps.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
GPUS=${GPUS:-1}
WORK=${WORK:-$(mktemp -d /tmp/ccrk-gpu-demo.XXXXXX)}
mkdir -p "$WORK"

# the demo config, cut to 2 steps: 64 images x 10 captions, batch 32 per process, 1 epoch
"$PY" - "$WORK/gpu_demo.yaml" "$GPUS" "${PRECISION:-fp16}" <<'EOF'
import sys, yaml
cfg = yaml.safe_load(open("config/config.yaml"))
gpus = int(sys.argv[2])
cfg["demo"].update(n_pretrain=64 * gpus, n_train=16, n_valid=8, n_test=8, fewshot_sizes=[4])
cfg["pretrain"].update(epochs=1, batch_size=32, num_workers=2, precision=sys.argv[3])
yaml.safe_dump(cfg, open(sys.argv[1], "w"))
EOF

start=$(date +%s)
timeout -s KILL 1200 "$PY" -m snakemake results/pretrain/model.pt --snakefile Snakefile --directory "$WORK" \
  --configfile "$WORK/gpu_demo.yaml" --cores 8 --set-resources "pretrain:gpu=$GPUS" > "$WORK/snakemake.log" 2>&1 \
  || { tail -40 "$WORK/snakemake.log"; tail -40 "$WORK/logs/pretrain.log" 2>/dev/null; exit 1; }
echo "wall time (demo data, translation, tokenizer, 2 GPU steps): $(( $(date +%s) - start )) s in $WORK"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
  [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])"
grep -E "starting|training on|step 2/2|trained steps" "$WORK/logs/pretrain.log"

grep -q "trained steps 1-2 of 2" "$WORK/logs/pretrain.log" || { echo "FAIL: the run did not finish 2 steps"; exit 1; }
if ! grep -Eq "training on cuda(:[0-9]+)? \(precision (fp16|bf16): (bfloat16|float16) autocast" "$WORK/logs/pretrain.log"; then
  [ "${ALLOW_CPU:-0}" = 1 ] && { echo "OK on CPU (ALLOW_CPU=1): no GPU here"; exit 0; }
  echo "FAIL: pretraining did not run on CUDA with AMP"; exit 1
fi
echo "OK: 2 pretraining steps on CUDA with AMP in $GPUS process(es)"
