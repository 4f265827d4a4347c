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
      # The online learners read prm-$task.json (rl + prm sections), the offline ones prm-$task-offline.json.
      case "$method" in
        repirl | airl-s | prime) config="apps/cli/configs/prm-$task.json" extra=(--set rl.seed="$seed") ;;
        orm | shepherd | implicit-offline) config="apps/cli/configs/prm-$task-offline.json" extra=(--set prm.seed="$seed") ;;
        *) echo "[prm-compare] unknown method \"$method\"" >&2; exit 2 ;;
      esac
      # Equal budget: Math-Shepherd's Monte-Carlo completions (≈ 5 steps × 2 per rollout) count, so it gets 24 × 4 rollouts.
      [ "$method" = shepherd ] && extra+=(--set problems=24 --set prm.completions=2 --set prm.labelMode=soft)
      repirl prm train --config "$config" --set method="$method" "${extra[@]}" \
        --set init="$OUT/sft-$task-s$seed" --out "$dir" --force --progress lines
    done
  done
done
node scripts/experiments/prm-table.mjs "$OUT" > "$OUT/table.md"
cat "$OUT/table.md"
