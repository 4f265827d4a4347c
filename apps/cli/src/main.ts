// The `repirl` command line. Commands grow with the issues (DESIGN.md §6).
import { deviceReport, formatDeviceReport } from './info.js';
import type { OptionalFeature } from '@repirl/kernels';

export const USAGE = `usage: repirl <command> [options]

commands:
  info [--json] [--no-features]   the WebGPU device repirl uses here, its limits and features
  help                            this text

Kernel benchmarks: npx nx run kernels:bench [-- suite ...]
Environment: REPIRL_WEBGPU_BACKEND=vulkan|opengles, REPIRL_DISABLE_FEATURES=shader-f16,subgroups,timestamp-query`;

export async function main(argv: readonly string[], print: (text: string) => void = console.log): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      print(USAGE);
      return 0;
    case 'info': {
      for (const flag of rest) {
        if (flag !== '--json' && flag !== '--no-features') {
          print(`repirl info: unknown option "${flag}" (allowed: --json, --no-features)`);
          return 2;
        }
      }
      const disableFeatures: OptionalFeature[] = rest.includes('--no-features') ? ['shader-f16', 'subgroups', 'timestamp-query'] : [];
      const report = await deviceReport({ disableFeatures });
      print(rest.includes('--json') ? JSON.stringify(report, null, 2) : formatDeviceReport(report));
      return 0;
    }
    default:
      print(`repirl: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}
