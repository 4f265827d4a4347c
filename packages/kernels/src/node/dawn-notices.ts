// Dawn's two limit notices, filtered out of a Node program's stderr.
//
// While it discovers adapters (the first requestAdapter of a process), Dawn prints from native
// code, straight to file descriptor 2:
//   Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.
//   Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.
// whenever the driver advertises more dynamic buffers than Dawn's fixed maximum (lavapipe: 1000000;
// its GL path 90 and 80). The print is unconditional in Dawn (Limits.cpp): no limit the runtime
// requests, no toggle and no option of the `webgpu` package changes it, and a Node process cannot
// redirect its own file descriptor 2. So a command-line entry point that wants a clean stderr runs
// itself once more as a child whose stderr goes through a filter that drops exactly those lines
// (matched in full, see DAWN_LIMIT_NOTICE) and passes every other byte through in order:
//
//   const code = await runWithDawnNoticesFiltered();
//   if (code !== null) process.exit(code); // the parent: the child ran the program
//   // the child (or filtering turned off): the program itself
//
// The child's stderr is a pipe, so `stderrIsTerminal()` / `stderrColumns()` tell it what the
// parent's stderr was (for progress bars). REPIRL_DAWN_NOTICES=show runs the program unfiltered.
// Node only: import it from '@repirl/kernels/node', never from kernel code.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/** One of Dawn's two limit notices, as a whole line (no line terminator). */
export const DAWN_LIMIT_NOTICE =
  /^Warning: maxDynamic(?:Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\r?$/;

/** Set in the child: the parent filters its stderr; the value is the parent's stderr columns, or 'pipe'. */
const CHILD_ENV = 'REPIRL_DAWN_NOTICES_FILTERED';

/**
 * A line filter over a stream of text chunks: `write` receives everything but the notice lines, in
 * order. Lines may be split across chunks; a trailing partial line is passed on by end().
 */
export function dawnNoticeFilter(write: (text: string) => void): { push(chunk: string): void; end(): void } {
  let pending = '';
  return {
    push(chunk) {
      pending += chunk;
      const lastNewline = pending.lastIndexOf('\n');
      if (lastNewline < 0) return;
      const complete = pending.slice(0, lastNewline + 1);
      pending = pending.slice(lastNewline + 1);
      const kept = complete.split(/(?<=\n)/).filter((line) => !DAWN_LIMIT_NOTICE.test(line.slice(0, -1)));
      if (kept.length > 0) write(kept.join(''));
    },
    end() {
      if (pending !== '' && !DAWN_LIMIT_NOTICE.test(pending)) write(pending);
      pending = '';
    },
  };
}

/**
 * In the parent: runs this same Node program (same executable, Node flags and arguments) as a child
 * with stdin and stdout inherited and stderr filtered by dawnNoticeFilter, and resolves with the
 * exit code to leave with (128 + signal number if the child was killed). In the child, or with
 * REPIRL_DAWN_NOTICES=show: resolves null at once, and the caller runs the program.
 */
export async function runWithDawnNoticesFiltered(): Promise<number | null> {
  if (process.env[CHILD_ENV] !== undefined || process.env.REPIRL_DAWN_NOTICES === 'show') return null;
  const columns = process.stderr.isTTY ? String(process.stderr.columns || 80) : 'pipe';
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'pipe'],
    env: { ...process.env, [CHILD_ENV]: columns },
  });
  // The terminal sends Ctrl-C to both processes; the child decides what it means.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  process.on('SIGTERM', forward);
  function forward() {
    child.kill('SIGTERM');
  }
  const filter = dawnNoticeFilter((text) => process.stderr.write(text));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => filter.push(chunk));
  try {
    return await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => {
        filter.end();
        resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
      });
    });
  } finally {
    process.off('SIGINT', ignore);
    process.off('SIGTERM', forward);
  }
}

/** Whether the program's stderr is a terminal (the parent's, when running filtered). */
export function stderrIsTerminal(): boolean {
  const filtered = process.env[CHILD_ENV];
  return filtered === undefined ? process.stderr.isTTY === true : filtered !== 'pipe';
}

/** Columns of the stderr terminal (the parent's, when running filtered); 80 when unknown. */
export function stderrColumns(): number {
  const filtered = process.env[CHILD_ENV];
  if (filtered === undefined) return process.stderr.columns || 80;
  return Number(filtered) || 80;
}
