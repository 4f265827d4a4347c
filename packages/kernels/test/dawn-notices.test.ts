// Dawn's two native limit notices are dropped from stderr by the filter, and nothing else is: the
// line filter on chunked text, and a real child process that creates a runtime.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DAWN_LIMIT_NOTICE, dawnNoticeFilter } from '../src/node/dawn-notices.js';

const NOTICE_U = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.';
const NOTICE_S = 'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 90 to 16 to fit dynamic offset allocation limit.';

function filtered(chunks: string[]): string {
  let out = '';
  const f = dawnNoticeFilter((text) => (out += text));
  for (const c of chunks) f.push(c);
  f.end();
  return out;
}

describe('dawnNoticeFilter', () => {
  it('drops exactly the two notice lines, wherever chunks split them, and keeps everything else in order', () => {
    const text = `a\n${NOTICE_U}\nb\n${NOTICE_S}\r\nWarning: something else\n  ${NOTICE_U}\n${NOTICE_U} (more)\nlast`;
    const expected = `a\nb\nWarning: something else\n  ${NOTICE_U}\n${NOTICE_U} (more)\nlast`;
    expect(filtered([text])).toBe(expected);
    for (const size of [1, 7, 50]) {
      const chunks = Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size));
      expect(filtered(chunks), `chunks of ${size}`).toBe(expected);
    }
    expect(filtered([NOTICE_U])).toBe(''); // a notice without its newline at the very end
    expect(DAWN_LIMIT_NOTICE.test(NOTICE_S)).toBe(true);
  });
});

describe('runWithDawnNoticesFiltered', () => {
  const child = fileURLToPath(new URL('./fixtures/dawn-notices-child.ts', import.meta.url));
  const run = (env: Record<string, string>) =>
    spawnSync('npx', ['tsx', '--conditions=source', child], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });

  it('a program that creates a runtime prints no notice, keeps its other output and its exit code', () => {
    const r = run({});
    expect(r.status, r.stderr).toBe(3);
    expect(r.stdout).toMatch(/^adapter: .*\n$/);
    const lines = r.stderr.split('\n');
    expect(lines.filter((l) => DAWN_LIMIT_NOTICE.test(l))).toEqual([]);
    expect(lines).toContain('kept: stderr is a terminal: false');
    expect(lines).toContain('Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 8 to 4 (not the notice)');
    expect(r.stderr.endsWith('kept: no newline at the end')).toBe(true);
  });

  it('REPIRL_DAWN_NOTICES=show runs it unfiltered (where the driver triggers them, the notices show)', () => {
    const r = run({ REPIRL_DAWN_NOTICES: 'show' });
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toContain('kept: no newline at the end');
    // lavapipe (llvmpipe) advertises 1000000 dynamic buffers, so there the notices appear unfiltered.
    if (/llvmpipe/.test(r.stdout)) {
      expect(r.stderr.split('\n').filter((l) => DAWN_LIMIT_NOTICE.test(l))).toHaveLength(2);
    }
  });
});
