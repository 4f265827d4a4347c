#!/usr/bin/env bash
# The main job on a small default (REPIRL_DEMO picks another):
#   prm (default)  learn a PRM with rePIRL on arith-chain from a small SFT policy and print its step
#                  AUROC and best-of-16 accuracy against majority vote (scripts/demo-prm.sh)
#   rl             SFT a tiny policy, GRPO from it, print held-out greedy pass@1 before and after
#   bench          the quick kernel benchmarks against tfjs and plain JS
# Each takes a few minutes on 2 CPU cores (lavapipe). The recorded experiments: EXPERIMENTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
export LP_NUM_THREADS="${LP_NUM_THREADS:-8}"

DEMO="${REPIRL_DEMO:-prm}"
case "$DEMO" in
  prm) exec bash scripts/demo-prm.sh ;;
  rl | bench) ;;
  *) echo "[demo] REPIRL_DEMO must be prm, rl or bench, got \"$DEMO\"" >&2; exit 2 ;;
esac

if [ "$DEMO" = bench ]; then
  export REPIRL_BENCH_QUICK="${REPIRL_BENCH_QUICK:-1}"
  echo "[demo] running the kernel benchmarks (quick sizes; set REPIRL_BENCH_QUICK=0 for full sizes)"
  exec npx nx run kernels:bench --output-style=stream
fi

OUT="${REPIRL_DEMO_OUT:-runs/demo-grpo}"
SFT_STEPS="${REPIRL_DEMO_SFT_STEPS:-800}"
GRPO_STEPS="${REPIRL_DEMO_GRPO_STEPS:-60}"
REPIRL="node_modules/.bin/tsx --conditions=source apps/cli/src/bin.ts"
PROBLEMS=300

echo "[demo] 1/2 SFT: $SFT_STEPS steps on arith-chain (4 ops, values < 10), only 70 expert solutions -> $OUT/sft"
$REPIRL sft --config apps/cli/configs/sft-arith-r10-scarce.json --out "$OUT/sft" --force --progress lines \
  --set steps="$SFT_STEPS" --set validation.problems=$PROBLEMS --set validation.every=0
echo "[demo] 2/2 GRPO: $GRPO_STEPS steps from the SFT policy -> $OUT/grpo"
$REPIRL rl --config apps/cli/configs/grpo-arith-r10-filter-lr4e-4.json --out "$OUT/grpo" --force --progress lines \
  --set init="$OUT/sft" --set steps="$GRPO_STEPS" --set validation.every=10 --set validation.problems=$PROBLEMS

node -e '
const fs = require("node:fs");
const out = process.argv[1];
const sft = JSON.parse(fs.readFileSync(out + "/sft/summary.json", "utf8"));
const rl = JSON.parse(fs.readFileSync(out + "/grpo/summary.json", "utf8"));
const before = rl.results["val/acc@start"], after = rl.results["val/acc"];
const pct = (x) => (100 * x).toFixed(1) + "%";
console.log("");
console.log(`[demo] held-out greedy pass@1 on ${rl.config.validation.problems} arith-chain problems:`);
console.log(`[demo]   after SFT  (${sft.step} steps, ${sft.time.toFixed(0)} s): ${pct(before)}`);
console.log(`[demo]   after GRPO (${rl.step} steps, ${rl.time.toFixed(0)} s): ${pct(after)}  (${after >= before ? "+" : ""}${(100 * (after - before)).toFixed(1)} points)`);
console.log(`[demo] curves: ${out}/grpo/metrics.jsonl; longer runs: EXPERIMENTS.md`);
' "$OUT"
