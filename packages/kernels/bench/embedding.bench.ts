// Embedding gather + scatter-add backward, against
//  - 'scan': our own one-pass backward (each (v, column) loops over all N ids), forced, to show what
//    the counting-sort scheme buys;
//  - 'tfjs-webgpu': tf.gather and tf.unsortedSegmentSum (the op tfjs's Gather gradient uses), same device.
// Work is the traffic of the forward (read N rows, write N rows) plus the backward (read dOut, write
// the V×D table): (3·N + V)·D·4 bytes.
import { checkIdErrors, embedding, embeddingBackward, type EmbeddingBackwardVariant } from '../src/index.js';
import { SeededRandom } from '../src/testing/index.js';
import type { BenchCase, BenchContext } from './harness.js';

type Tf = Awaited<ReturnType<BenchContext['tfWebgpu']>>;
type Tensor = import('@tensorflow/tfjs-core').Tensor;
type Tensor1D = import('@tensorflow/tfjs-core').Tensor1D;

export default async function (ctx: BenchContext): Promise<BenchCase[]> {
  const { rt } = ctx;
  const shapes: [number, number, number][] = ctx.quick ? [[1024, 64, 256]] : [[4096, 256, 512], [32000, 256, 4096]];
  const cases: BenchCase[] = [];
  for (const [vocab, dim, count] of shapes) {
    const rng = new SeededRandom(1);
    const tableHost = rng.floats(vocab * dim);
    const idsHost = rng.ints(count, 0, vocab - 1);
    const dOutHost = rng.floats(count * dim);
    const table = rt.upload(tableHost, [vocab, dim]);
    const ids = rt.upload(idsHost);
    const dOut = rt.upload(dOutHost, [count, dim]);
    const run = async (variant?: EmbeddingBackwardVariant) => {
      embedding(rt, table, ids).dispose();
      embeddingBackward(rt, dOut, ids, vocab, variant ? { variant } : {}).dispose();
      await rt.sync();
    };
    let tf: Tf | null = null;
    let tfIn: Tensor[] = [];
    const peers: BenchCase['peers'] = {
      'tfjs-webgpu': {
        before: async () => {
          tf = await ctx.tfWebgpu();
          tfIn = [tf.tensor2d(tableHost, [vocab, dim]), tf.tensor1d(idsHost, 'int32'), tf.tensor2d(dOutHost, [count, dim])];
        },
        run: async () => {
          const t = tf!;
          const [tb, ix, d] = tfIn as [Tensor, Tensor1D, Tensor];
          const y = t.gather(tb, ix);
          const grad = t.unsortedSegmentSum(d, ix, vocab);
          const probe = t.slice(grad, [0, 0], [1, 1]);
          await probe.data();
          t.dispose([y, grad, probe]);
        },
        after: () => {
          tf?.dispose(tfIn);
          tfIn = [];
        },
      },
    };
    // The one-pass scan costs V·D·N: only measured where it finishes in reasonable time.
    if (vocab * dim * count <= 1 << 30) peers.scan = () => run('scan');
    cases.push({
      name: `embedding fwd+bwd V=${vocab} D=${dim} N=${count}`,
      params: { V: vocab, D: dim, N: count },
      work: (3 * count + vocab) * dim * 4,
      unit: 'GB/s',
      ours: () => run(),
      peers,
      dispose: async () => {
        await checkIdErrors(rt);
        for (const a of [table, ids, dOut]) a.dispose();
      },
    });
  }
  return cases;
}
