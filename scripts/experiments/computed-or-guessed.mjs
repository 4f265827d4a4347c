#!/usr/bin/env node
// Are a policy's correct arith-chain answers computed or guessed? Reads the samples.jsonl that
// `repirl eval --out DIR` writes (greedy responses) and prints, per file: the accuracy, the fraction
// of "=value" lines that are the op applied to the value written on the line before (steps
// computed), the fraction of responses whose every such line is (every step locally correct), the
// fraction that is both correct and fully computed, and the accuracy of the best constant guess
// (the most frequent true answer).
//
//   node scripts/experiments/computed-or-guessed.mjs runs/eval-x/samples.jsonl [...]
import { readFileSync } from 'node:fs';

const apply = (op, k, v) => (op === '+' ? v + k : op === '-' ? v - k : v * k);

console.log('| samples | problems | greedy pass@1 | steps computed | every step computed | correct and computed | best constant guess |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const path of process.argv.slice(2)) {
  let n = 0, correct = 0, computed = 0, both = 0, steps = 0, stepsComputed = 0;
  const answers = new Map();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const s = JSON.parse(line);
    n++;
    const [start, ...ops] = s.prompt.trim().split(/\s+/);
    let truth = Number(start);
    let written = Number(start);
    let ok = true;
    const lines = s.response.trim().split('\n');
    ops.forEach((op, i) => {
      const k = Number(op.slice(1));
      truth = apply(op[0], k, truth);
      const m = /^=\s*(-?\d+)$/.exec(lines[i] ?? '');
      steps++;
      if (m === null) {
        ok = false;
        written = NaN; // nothing to build on: the next step is not computed either (as stepLabels has it)
        return;
      }
      if (Number(m[1]) === apply(op[0], k, written)) stepsComputed++;
      else ok = false;
      written = Number(m[1]);
    });
    answers.set(truth, (answers.get(truth) ?? 0) + 1);
    correct += s.correct ? 1 : 0;
    computed += ok ? 1 : 0;
    both += s.correct && ok ? 1 : 0;
  }
  const f = (x) => (x / n).toFixed(3);
  console.log(`| ${path} | ${n} | ${f(correct)} | ${(stepsComputed / steps).toFixed(3)} | ${f(computed)} | ${f(both)} | ${f(Math.max(...answers.values()))} |`);
}
