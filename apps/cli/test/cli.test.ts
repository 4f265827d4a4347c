import { describe, expect, it } from 'vitest';
import { main } from '../src/index.js';

async function run(...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await main(argv, (t) => lines.push(t));
  return { code, out: lines.join('\n') };
}

describe('repirl', () => {
  it('prints usage for help and no arguments', async () => {
    expect((await run()).out).toMatch(/usage: repirl <command>/);
    expect((await run('help')).code).toBe(0);
  });

  it('rejects an unknown command and an unknown option, naming them', async () => {
    const cmd = await run('frobnicate');
    expect(cmd.code).toBe(2);
    expect(cmd.out).toMatch(/unknown command "frobnicate"/);
    const opt = await run('info', '--verbose');
    expect(opt.code).toBe(2);
    expect(opt.out).toMatch(/unknown option "--verbose" \(allowed: --json, --no-features\)/);
  });

  it('reports the device, its negotiated limits and features', async () => {
    const { code, out } = await run('info', '--json');
    expect(code).toBe(0);
    const report = JSON.parse(out);
    expect(report.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(Array.isArray(report.adapter.features)).toBe(true);
    const text = await run('info', '--no-features');
    expect(text.out).toMatch(/features\s+none \(scalar fallbacks/);
  });
});
