#!/usr/bin/env bash
# The starting policies of the PRM comparison (EXPERIMENTS.md): one SFT run per task and seed.
#   bash scripts/experiments/prm-sft.sh [OUT=runs/prm-exp] [SEEDS="1 2 3"]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-runs/prm-exp}"
SEEDS="${SEEDS:-1 2 3}"
TASKS="${TASKS:-arith add-carry}"
export LP_NUM_THREADS="${LP_NUM_THREADS:-2}"
repirl() { npx tsx --conditions=source apps/cli/src/bin.ts "$@"; }
for seed in $SEEDS; do
  for task in $TASKS; do
    dir="$OUT/sft-$task-s$seed"
    config="apps/cli/configs/sft-$task.json"
    [ "$task" = arith ] && config=apps/cli/configs/sft-arith-r10.json
    if [ -f "$dir/policy.safetensors" ]; then echo "[prm-sft] $dir exists"; continue; fi
    repirl sft --config "$config" --set seed="$seed" --out "$dir" --force --progress lines
  done
done
