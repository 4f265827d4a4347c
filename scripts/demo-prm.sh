#!/usr/bin/env bash
# `npm run demo`'s main job: learn a PRM with rePIRL on the arithmetic chain from a small SFT
# policy, then print its step AUROC (against the exact step labels) and its best-of-16 accuracy
# against majority vote on held-out samples. A few minutes on 2 CPU cores (lavapipe).
# The recorded comparison of every learner (3 seeds, 2 tasks): scripts/experiments/prm-compare.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${REPIRL_DEMO_OUT:-runs/demo-prm}"
REPIRL="node_modules/.bin/tsx --conditions=source apps/cli/src/bin.ts"

echo "[demo] 1/2 SFT: a tiny byte-level policy on arith-chain (4 ops, values < 10), noisy solutions -> $OUT/sft"
$REPIRL sft --config apps/cli/configs/sft-arith-r10.json --out "$OUT/sft" --force --progress lines --set validation.problems=100
echo "[demo] 2/2 rePIRL: 30 dual-loop steps (PRM update, then policy update), then the PRM on held-out samples -> $OUT/prm"
$REPIRL prm train --config apps/cli/configs/prm-arith.json --set method=repirl --set init="$OUT/sft" --out "$OUT/prm" --force --progress lines \
  --set eval.problems=32 --set eval.samplesPerProblem=16 --set 'eval.ns=[4,16]'

node -e '
const fs = require("node:fs");
const out = process.argv[1];
const { metrics: m } = JSON.parse(fs.readFileSync(out + "/prm/prm_eval.json", "utf8"));
const f = (x) => (x === null || x === undefined ? "n/a" : x.toFixed(3));
console.log("");
console.log(`[demo] rePIRL PRM on ${m["prm_eval/samples"]} held-out samples of the SFT policy (sampled accuracy ${f(m["prm_eval/policy_acc"])}):`);
const ci = (k) => `${f(m[k])} [${f(m[k + "/lo"])}, ${f(m[k + "/hi"])}]`;
console.log(`[demo]   step AUROC ${ci("prm_eval/step_auroc")} pooled (0.5 = chance; 95% bootstrap interval over problems)`);
console.log(`[demo]   position-controlled step AUROC ${ci("prm_eval/step_auroc_position_controlled/sum")} vs length-only baseline ${f(m["prm_eval/step_auroc_position_controlled/baseline-length"])} (position-only: 0.5)`);
console.log(`[demo]   first-error F1 ${f(m["prm_eval/first_error_f1"])}`);
console.log(`[demo]   best-of-16: PRM-weighted vote ${ci("prm_eval/bo16/weighted/official")}, PRM best (min step) ${f(m["prm_eval/bo16/min"])}, majority vote ${ci("prm_eval/bo16/majority")}`);
console.log(`[demo] every number: ${out}/prm/prm_eval.json; the comparison of all learners: EXPERIMENTS.md`);
' "$OUT"
