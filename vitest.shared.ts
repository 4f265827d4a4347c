// Shared vitest settings for every package. One fork per test file (a native crash in Dawn kills
// one file, not the run), files one after another (lavapipe already uses every core), and a JSON
// report per package under CI so scripts/test-summary.mjs can print "N passed, N failed".
import { defineConfig } from 'vitest/config';

export function packageConfig(packageName: string, extra: { passWithNoTests?: boolean } = {}) {
  const reports = new URL('./.reports/', import.meta.url).pathname;
  return defineConfig({
    ssr: { resolve: { conditions: ['source', 'module', 'node', 'development|production'] } },
    test: {
      name: packageName,
      pool: 'forks',
      fileParallelism: false,
      testTimeout: 120_000,
      hookTimeout: 120_000,
      include: ['test/**/*.test.ts'],
      // Only for packages whose content arrives with a later issue; every other package must have tests.
      passWithNoTests: extra.passWithNoTests ?? false,
      reporters: process.env.REPIRL_TEST_REPORT ? ['default', 'json'] : ['default'],
      outputFile: { json: `${reports}vitest-${packageName}.json` },
    },
  });
}
