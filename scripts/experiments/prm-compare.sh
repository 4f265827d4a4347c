#!/usr/bin/env bash
# The PRM comparison of EXPERIMENTS.md: for each task and seed, the SFT starting policy
# (prm-sft.sh), then every learner at the same rollout budget, each run ending with the held-out
# PRM evaluation on samples of that starting policy; then the table (prm-table.mjs).
#   bash scripts/experiments/prm-compare.sh            # everything (skips finished runs)
#   SEEDS="1" TASKS="arith" METHODS="repirl orm" bash scripts/experiments/prm-compare.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-runs/prm-exp}"
SEEDS="${SEEDS:-1 2 3}"
TASKS="${TASKS:-arith add-carry}"
METHODS="${METHODS:-repirl airl-s prime orm shepherd}"
export LP_NUM_THREADS="${LP_NUM_THREADS:-2}" OUT SEEDS TASKS
repirl() { npx tsx --conditions=source apps/cli/src/bin.ts "$@"; }
bash scripts/experiments/prm-sft.sh
for seed in $SEEDS; do
  for task in $TASKS; do
    for method in $METHODS; do
      dir="$OUT/$task-$method-s$seed"
      if [ -f "$dir/prm_eval.json" ]; then echo "[prm-compare] $dir exists"; continue; fi
      # Equal budget: Math-Shepherd's Monte-Carlo completions (≈ 5 steps × 2 per rollout) count, so it gets 24 × 4 rollouts.
      extra=()
      [ "$method" = shepherd ] && extra=(--set offline.problems=24)
      repirl prm train --config "apps/cli/configs/prm-$task.json" --set method="$method" --set seed="$seed" \
        --set init="$OUT/sft-$task-s$seed" "${extra[@]}" --out "$dir" --force --progress lines
    done
  done
done
node scripts/experiments/prm-table.mjs "$OUT" > "$OUT/table.md"
cat "$OUT/table.md"
