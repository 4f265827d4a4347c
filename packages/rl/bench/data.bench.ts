// Problem files at scale (issue 14): a 1,000,000-row GSM8K-style JSONL file and the same rows as
// Parquet (row groups of 100,000) are written to a temp dir, then read back through
// readProblemFile to the Problem records. Throughput is rows/s; memory is the peak RSS sampled
// while reading (every 10,000 rows) above the RSS before the read, which stays bounded by a line
// (JSONL) or a row group (Parquet) however many rows the file has.
//
// A suite of the bench harness (default export, as packages/kernels/bench/*.bench.ts), and a
// script on its own, without a GPU runtime:
//   cd packages/rl && NODE_OPTIONS=--expose-gc npx tsx --conditions=source bench/data.bench.ts
// (REPIRL_BENCH_QUICK=1: 20,000 rows).
// REPIRL_BENCH_ROWS overrides the row count; REPIRL_BENCH_OUT=file.json writes the records.
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fileWriter, parquetWriteRows } from 'hyparquet-writer';
import { Bench } from 'tinybench';
import { readProblemFile } from '../src/data/index.js';

/** The harness's case shape (@repirl/kernels/bench), restated so this file runs without a GPU runtime. */
interface DataBenchCase {
  name: string;
  params: Record<string, number | string | boolean>;
  work: number;
  unit: 'Melem/s';
  ours: { before?: () => Promise<unknown>; run: () => Promise<unknown>; after?: () => Promise<unknown> };
  peers: Record<string, never>;
  extra: () => { peak_rss_mib: number; rss_before_mib: number; peak_rss_above_before_mib: number; write_s: number };
  dispose: () => Promise<void>;
  minIterations: number;
}

function row(i: number): { question: string; answer: string } {
  const a = (i * 7919) % 1000;
  const b = (i * 104729) % 100;
  return {
    question: `Problem ${i}: a shop sells ${a} pens on Monday and ${b} more on Tuesday than on Monday. How many pens does it sell on both days?`,
    answer: `On Tuesday it sells ${a} + ${b} = <<${a}+${b}=${a + b}>>${a + b} pens.\nOn both days ${a} + ${a + b} = <<${a}+${a + b}=${2 * a + b}>>${2 * a + b} pens.\n#### ${2 * a + b}`,
  };
}

async function writeJsonlRows(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path);
  for (let i = 0; i < rows; i++) {
    if (!out.write(`${JSON.stringify(row(i))}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

async function writeParquetRows(path: string, rows: number): Promise<void> {
  function* gen() {
    for (let i = 0; i < rows; i++) yield row(i);
  }
  await parquetWriteRows({
    writer: fileWriter(path),
    rows: gen(),
    columns: [{ name: 'question', type: 'STRING' }, { name: 'answer', type: 'STRING' }],
    rowGroupSize: 100_000,
  });
}

interface ReadStats {
  rows: number;
  baseRssMiB: number;
  peakRssMiB: number;
}

async function readAll(path: string): Promise<ReadStats> {
  // With --expose-gc (NODE_OPTIONS=--expose-gc), the garbage of writing the files is collected first.
  (globalThis as { gc?: () => void }).gc?.();
  const base = process.memoryUsage.rss();
  let peak = base;
  let rows = 0;
  let check = 0;
  for await (const p of readProblemFile(path)) {
    check += p.answer.length;
    if (++rows % 10_000 === 0) peak = Math.max(peak, process.memoryUsage.rss());
  }
  peak = Math.max(peak, process.memoryUsage.rss());
  if (check === 0) throw new Error('nothing read');
  return { rows, baseRssMiB: base / 2 ** 20, peakRssMiB: peak / 2 ** 20 };
}

export default async function dataBench(ctx: { quick: boolean }): Promise<DataBenchCase[]> {
  const rows = Number(process.env.REPIRL_BENCH_ROWS ?? (ctx.quick ? 20_000 : 1_000_000));
  const dir = await mkdtemp(join(tmpdir(), 'repirl-data-bench-'));
  const files = { jsonl: join(dir, 'problems.jsonl'), parquet: join(dir, 'problems.parquet') };
  let t = performance.now();
  await writeJsonlRows(files.jsonl, rows);
  const jsonlWriteS = (performance.now() - t) / 1000;
  t = performance.now();
  await writeParquetRows(files.parquet, rows);
  const parquetWriteS = (performance.now() - t) / 1000;
  let removed = false;
  const cases = (['jsonl', 'parquet'] as const).map(async (format): Promise<DataBenchCase> => {
    const path = files[format];
    const bytes = (await stat(path)).size;
    let last: ReadStats = { rows: 0, baseRssMiB: 0, peakRssMiB: 0 };
    let worstDelta = 0;
    return {
      name: `read ${format} ${rows} rows`,
      params: { format, rows, layout: 'gsm8k', file_mib: Math.round(bytes / 2 ** 20) },
      work: rows,
      unit: 'Melem/s',
      ours: {
        run: async () => {
          last = await readAll(path);
          if (last.rows !== rows) throw new Error(`read ${last.rows} rows of ${rows}`);
          worstDelta = Math.max(worstDelta, last.peakRssMiB - last.baseRssMiB);
        },
      },
      peers: {},
      extra: () => ({
        peak_rss_mib: Math.round(last.peakRssMiB),
        rss_before_mib: Math.round(last.baseRssMiB),
        peak_rss_above_before_mib: Math.round(worstDelta),
        write_s: Number((format === 'jsonl' ? jsonlWriteS : parquetWriteS).toFixed(1)),
      }),
      dispose: async () => {
        if (format === 'parquet' && !removed) {
          removed = true;
          await rm(dir, { recursive: true, force: true });
        }
      },
      minIterations: 1,
    };
  });
  return Promise.all(cases);
}

/** Run on its own: each case once as warm-up, then timed by tinybench (median of ≥ 2 runs). */
async function main(): Promise<void> {
  const quick = process.env.REPIRL_BENCH_QUICK === '1';
  console.log(`# data benchmarks — node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}${quick ? ', quick sizes' : ''}`);
  const cases = await dataBench({ quick });
  const results: Record<string, unknown>[] = [];
  for (const c of cases) {
    try {
      await c.ours.run(); // warm-up
      const bench = new Bench({ time: 0, iterations: quick ? 3 : 2, warmup: false, retainSamples: false });
      bench.add(c.name, c.ours.run);
      await bench.run();
      const result = bench.tasks[0]!.result;
      if (result.state !== 'completed') throw new Error(`${c.name}: ${result.state === 'errored' ? result.error : result.state}`);
      const ms = result.latency.p50;
      const record = { case: c.name, params: c.params, median_ms: ms, rows_per_s: Math.round(c.work / (ms / 1000)), samples: result.latency.samplesCount, ...c.extra() };
      results.push(record);
      console.log(`  ${c.name.padEnd(28)} ${(ms / 1000).toFixed(2).padStart(7)} s ${String(record.rows_per_s).padStart(9)} rows/s  ` +
        `peak RSS ${record.peak_rss_mib} MiB (${record.peak_rss_above_before_mib} MiB above the ${record.rss_before_mib} MiB before), file ${c.params.file_mib} MiB, written in ${record.write_s} s`);
    } finally {
      await c.dispose();
    }
  }
  console.log(`  process max RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB of ${Math.round(totalmem() / 2 ** 30)} GiB`);
  if (process.env.REPIRL_BENCH_OUT) {
    await writeFile(process.env.REPIRL_BENCH_OUT, JSON.stringify({ suite: 'data', date: new Date().toISOString(), node: process.version, results }, null, 2) + '\n');
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
