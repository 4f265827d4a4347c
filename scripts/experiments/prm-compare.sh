#!/usr/bin/env bash
# The PRM comparison of EXPERIMENTS.md (issue 15's rerun): for each task and seed, the SFT starting
# policy (prm-sft.sh), then every learner at the same budget of sampled sequences, each run ending
# with the held-out PRM evaluation on samples of that starting policy (test split); then the table
# (prm-table.mjs).
#   bash scripts/experiments/prm-compare.sh            # everything (skips finished runs)
#   SEEDS="1" TASKS="arith" METHODS="repirl orm" bash scripts/experiments/prm-compare.sh
#
# What makes the comparison fair (issue 15):
# - Equal budgets: every learner samples BUDGET sequences. The online learners stop at
#   rl.budget.sampledSequences (filter oversampling counted) or earlier when their PRM's validation
#   stops improving (prm.validation.patience); the ORM gets BUDGET / 4 problems × 4 rollouts;
#   Math-Shepherd SHEPHERD_PROBLEMS × 4 rollouts plus 2 Monte-Carlo completions from every step
#   prefix (its summary's compute/sampled_sequences says how close that lands).
# - Strong PRMs: the online learners keep the PRM of their best validation (position-controlled
#   step AUROC on samples of validation problems, never the test split), and their PRM learning rate
#   is chosen per method and task on that validation (SWEEP_METHODS; on this 2-core machine only
#   rePIRL's by default, the others run at the first of LRS): on seed 1 each lr of LRS runs
#   (sweep/<task>-<method>-lr<lr>-s1; SWEEP_SEED); the one with the best validation becomes <task>-<method>-s1
#   and is used for the other seeds (sweep/chosen-lr.tsv).
# - Held-out evaluation: EVAL_PROBLEMS test problems × 16 samples, bootstrap intervals over problems.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-runs/prm-exp2}"
SEEDS="${SEEDS:-1 2 3}"
TASKS="${TASKS:-arith add-carry}"
METHODS="${METHODS:-repirl airl-s prime orm shepherd}"
BUDGET="${BUDGET:-7680}"
LRS="${LRS:-0.001 0.003}"
EVAL_PROBLEMS="${EVAL_PROBLEMS:-200}"
SHEPHERD_PROBLEMS="${SHEPHERD_PROBLEMS:-192}"
SWEEP_SEED="${SWEEP_SEED:-1}" # the seed whose runs choose each online method's PRM lr (run it first)
SWEEP_METHODS="${SWEEP_METHODS:-repirl}" # the online methods whose lr is swept; the others run at the first of LRS
export LP_NUM_THREADS="${LP_NUM_THREADS:-2}" OUT SEEDS TASKS
repirl() { node_modules/.bin/tsx --conditions=source apps/cli/src/bin.ts "$@"; }
bash scripts/experiments/prm-sft.sh
mkdir -p "$OUT/sweep"
evaluation=(--set eval.problems="$EVAL_PROBLEMS" --set eval.samplesPerProblem=16 --set 'eval.ns=[4,16]')
online=(--set rl.steps=1000 --set rl.budget.sampledSequences="$BUDGET" --set rl.validation.every=10
  --set prm.validation.problems=48 --set prm.validation.samplesPerProblem=8 --set prm.validation.patience=3)
train() { # task method seed dir [--set ...]
  local task=$1 method=$2 seed=$3 dir=$4; shift 4
  local config extra=()
  if [ -f "$dir/prm_eval.json" ]; then echo "[prm-compare] $dir exists"; return; fi
  # The online learners read prm-$task.json (rl + prm sections), the offline ones prm-$task-offline.json.
  case "$method" in
    repirl | airl-s | prime) config="apps/cli/configs/prm-$task.json" extra=(--set rl.seed="$seed" "${online[@]}") ;;
    orm | implicit-offline) config="apps/cli/configs/prm-$task-offline.json" extra=(--set prm.seed="$seed" --set problems=$((BUDGET / 4))) ;;
    shepherd) config="apps/cli/configs/prm-$task-offline.json"
      extra=(--set prm.seed="$seed" --set problems="$SHEPHERD_PROBLEMS" --set prm.completions=2 --set prm.labelMode=soft) ;;
    *) echo "[prm-compare] unknown method \"$method\"" >&2; exit 2 ;;
  esac
  repirl prm train --config "$config" --set method="$method" "${extra[@]}" "${evaluation[@]}" "$@" \
    --set init="$OUT/sft-$task-s$seed" --out "$dir" --force --progress lines
}
best_of() { # the validation's best value (val/prm/best) in a run's summary.json, or -1
  node -e 'const s = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8")); console.log(s.results?.["val/prm/best"] ?? -1)' "$1/summary.json" 2>/dev/null || echo -1
}
for seed in $SEEDS; do
  for task in $TASKS; do
    for method in $METHODS; do
      dir="$OUT/$task-$method-s$seed"
      case "$method" in
        repirl | airl-s | prime)
          if [ "$seed" = "$SWEEP_SEED" ] && [ ! -f "$dir/prm_eval.json" ]; then
            best=-1 bestLr=
            lrs=$LRS
            case " $SWEEP_METHODS " in *" $method "*) ;; *) lrs=${LRS%% *} ;; esac
            for lr in $lrs; do
              train "$task" "$method" "$seed" "$OUT/sweep/$task-$method-lr$lr-s$seed" --set prm.optim.lr="$lr"
              v=$(best_of "$OUT/sweep/$task-$method-lr$lr-s$seed")
              if node -e 'process.exit(Number(process.argv[1]) > Number(process.argv[2]) ? 0 : 1)' "$v" "$best"; then best=$v bestLr=$lr; fi
            done
            printf '%s\t%s\t%s\t%s\n' "$task" "$method" "$bestLr" "$best" >>"$OUT/sweep/chosen-lr.tsv"
            rm -rf "$dir" && cp -r "$OUT/sweep/$task-$method-lr$bestLr-s$seed" "$dir"
          else
            lr=$(awk -v t="$task" -v m="$method" '$1 == t && $2 == m { lr = $3 } END { print lr }' "$OUT/sweep/chosen-lr.tsv" 2>/dev/null)
            train "$task" "$method" "$seed" "$dir" --set prm.optim.lr="${lr:-0.001}"
          fi ;;
        *) train "$task" "$method" "$seed" "$dir" ;;
      esac
    done
  done
done
node scripts/experiments/prm-table.mjs "$OUT" > "$OUT/table.md"
cat "$OUT/table.md"
