// The PyTorch CPU peer of the model benchmarks: scripts/bench/torch-decoder.py (the same decoder in
// PyTorch, float32) run by Debian's interpreter for one case, its median time read back. Shared by
// the model suite (the d128 toy model) and the hf-shapes suite (real model shapes).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ExternalPeer } from '@repirl/kernels/bench';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../../../scripts/bench/torch-decoder.py', import.meta.url));
const run = promisify(execFile);

/** Debian's OpenBLAS misbehaves with these set (they are for other tools on some machines): unset for the peer only. */
function torchEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

let torchChecked: Promise<string | null> | null = null;

/** torch's version when /usr/bin/python3 imports it, else null (and a note saying why the peer is skipped). */
function torchVersion(): Promise<string | null> {
  torchChecked ??= run(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { env: torchEnv() }).then(
    ({ stdout }) => stdout.trim(),
    (err: Error) => {
      console.log(`  note: PyTorch peer skipped: ${PYTHON} cannot import torch (${err.message.split('\n')[0]}); install it with scripts/hf/setup-torch.sh`);
      return null;
    },
  );
  return torchChecked;
}

/**
 * One case of torch-decoder.py ('prefill', 'decode', or 'train': LoRA when the shape has a
 * loraRank, else every parameter) at `threads` threads, `iterations` timed runs after its warm-up.
 */
export function torchPeer(kase: 'prefill' | 'decode' | 'train', shape: Record<string, unknown>, threads: number, iterations: number): ExternalPeer {
  return {
    external: async () => {
      if (!(await torchVersion())) return null;
      const args = [SCRIPT, '--case', kase, '--threads', String(threads), '--iterations', String(iterations), '--shape', JSON.stringify(shape)];
      const { stdout } = await run(PYTHON, args, { env: torchEnv(), maxBuffer: 1 << 20 });
      const line = stdout.trim().split('\n').pop()!;
      const r = JSON.parse(line) as { median_ms: number; samples: number[]; threads: number };
      return { median_ms: r.median_ms, samples: r.samples.length };
    },
  };
}
