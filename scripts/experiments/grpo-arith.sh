#!/usr/bin/env bash
# The SFT → GRPO experiment of EXPERIMENTS.md, every command as it ran: for each seed, an SFT policy
# ($SFT_CONFIG), then GRPO from it ($GRPO_CONFIG), both validated on the same 500 held-out problems
# (greedy pass@1), then both evaluated again on 1000 fresh test problems that no run ever saw; then
# the table and the learning curves (docs/experiments/).
#
#   bash scripts/experiments/grpo-arith.sh               # seeds 1 2 3, one after another
#   PARALLEL=1 bash scripts/experiments/grpo-arith.sh    # the seeds side by side (how the first attempt ran them)
#   SEEDS="2" bash scripts/experiments/grpo-arith.sh     # one seed
#   STAGE=report bash scripts/experiments/grpo-arith.sh  # only the table and the figures (STAGE: sft, grpo, analyse, report)
#
# The defaults are the fourth attempt of EXPERIMENTS.md (SFT to convergence on 70 expert solutions,
# GRPO with dynamic sampling at lr 4e-4). The third attempt is the same at lr 2e-4:
#   GRPO_CONFIG=apps/cli/configs/grpo-arith-r10-filter.json OUT=runs/grpo-arith-scarce NAME=grpo-arith-scarce \
#   bash scripts/experiments/grpo-arith.sh
# The second attempt (noisy SFT at a constant lr stopped at 260 steps):
#   SFT_CONFIG=apps/cli/configs/sft-arith-r10-early.json GRPO_CONFIG=apps/cli/configs/grpo-arith-r10.json \
#   OUT=runs/grpo-arith NAME=grpo-arith bash scripts/experiments/grpo-arith.sh
# The first attempt (expert SFT with cosine decay stopped at 330 steps, GRPO at T = 0.5):
#   SFT_CONFIG=apps/cli/configs/sft-arith-short.json GRPO_CONFIG=apps/cli/configs/grpo-arith-short.json \
#   OUT=runs/grpo-arith-first NAME=grpo-arith-first PARALLEL=1 bash scripts/experiments/grpo-arith.sh
#
# Each GRPO run is also capped at GRPO_LIMIT_S (default 1200 s = 20 min) of wall time: at the cap,
# SIGINT makes the CLI finish the step, checkpoint and stop; the report then uses the last validation.
# Runs go to $OUT/seed<N>/{sft,grpo} (default runs/grpo-arith-lr4e-4, git-ignored); wall times to $OUT/times.tsv.
set -euo pipefail
cd "$(dirname "$0")/../.."
export LP_NUM_THREADS="${LP_NUM_THREADS:-2}" NX_DAEMON=false
SEEDS="${SEEDS:-1 2 3}"
PARALLEL="${PARALLEL:-0}"
GRPO_LIMIT_S="${GRPO_LIMIT_S:-1200}"
STAGE="${STAGE:-all}"
SFT_CONFIG="${SFT_CONFIG:-apps/cli/configs/sft-arith-r10-scarce.json}"
GRPO_CONFIG="${GRPO_CONFIG:-apps/cli/configs/grpo-arith-r10-filter-lr4e-4.json}"
OUT="${OUT:-runs/grpo-arith-lr4e-4}"
NAME="${NAME:-grpo-arith-lr4e-4}" # prefix of the files written to docs/experiments/
TSX="node_modules/.bin/tsx --conditions=source"
REPIRL="$TSX apps/cli/src/bin.ts"
mkdir -p "$OUT"

timed() { # label seed command...: runs the command, appends "label seed seconds" to times.tsv
  local label=$1 seed=$2; shift 2
  local t0 ms; t0=$(date +%s%N)
  "$@" || echo "[grpo-arith] $label seed $seed exited with status $?"
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  printf '%s\t%s\t%d.%03d\n' "$label" "$seed" $((ms / 1000)) $((ms % 1000)) >>"$OUT/times.tsv"
}

each_seed() { # stage-function: runs it for every seed, side by side when PARALLEL=1
  local s
  for s in $SEEDS; do
    if [ "$PARALLEL" = 1 ]; then "$1" "$s" >"$OUT/$1-seed$s.log" 2>&1 & else "$1" "$s"; fi
  done
  wait
}
sft() {
  timed sft "$1" $REPIRL sft --config "$SFT_CONFIG" --set seed="$1" \
    --out "$OUT/seed$1/sft" --force --progress lines
}
grpo() {
  timed grpo "$1" timeout -s INT "$GRPO_LIMIT_S" $REPIRL rl --config "$GRPO_CONFIG" --set seed="$1" \
    --set init="$OUT/seed$1/sft" --out "$OUT/seed$1/grpo" --force --progress lines
}
if [ "$STAGE" = all ] || [ "$STAGE" = sft ]; then each_seed sft; fi
if [ "$STAGE" = all ] || [ "$STAGE" = grpo ]; then each_seed grpo; fi
# Greedy answers of the SFT and the final GRPO policy on the same 500 held-out problems (the
# validation set of the seed: eval-*), and on 1000 test problems of a third seed that neither run
# validated on (test-*); then: computed (every step right) or guessed?
# The task, its difficulty and the validation size come from $GRPO_CONFIG, so that eval-* scores the
# very problems the GRPO run validated on, whatever configs the script is given.
config_value() { node -p "JSON.stringify(JSON.parse(require('node:fs').readFileSync('$GRPO_CONFIG', 'utf8')).$1)"; }
# eval-* reads the task's validation split with the GRPO run's validation seed; test-* the test
# split, which no run trains or validates on (the splits are disjoint by construction).
evaluate() { # seed which name problems seed-offset task-split
  $REPIRL eval --set checkpoint="$OUT/seed$1/$2" --set task.name="$TASK_NAME" \
    --set task.difficulty="$TASK_DIFFICULTY" --set problems="$4" --set split="$6" \
    --set seed=$(($1 + $5)) --out "$OUT/seed$1/$3-$2" --force --progress off
}
analyse() {
  local s=$1 which
  for which in sft grpo; do
    evaluate "$s" "$which" eval "$VAL_PROBLEMS" 1000003 validation
    evaluate "$s" "$which" test 1000 2000003 test
  done
}
if [ "$STAGE" = all ] || [ "$STAGE" = analyse ]; then
  TASK_NAME="$(config_value task.name)" TASK_DIFFICULTY="$(config_value task.difficulty)" VAL_PROBLEMS="$(config_value validation.problems)"
  each_seed analyse
fi
if [ "$STAGE" = all ] || [ "$STAGE" = report ]; then
  $TSX scripts/experiments/grpo-arith-report.mjs "$OUT" docs/experiments "$NAME" # tsx: it imports @repirl/prm's bootstrap
  cp "$OUT/times.tsv" "docs/experiments/$NAME-times.tsv"
  files=()
  for s in $SEEDS; do for which in sft grpo; do
    for split in eval test; do
      [ -f "$OUT/seed$s/$split-$which/samples.jsonl" ] && files+=("$OUT/seed$s/$split-$which/samples.jsonl")
    done
  done; done
  if [ ${#files[@]} -gt 0 ]; then
    node scripts/experiments/computed-or-guessed.mjs "${files[@]}" | tee "docs/experiments/$NAME-computed.md"
  fi
fi
