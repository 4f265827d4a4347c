// Atomic writes for the run directory (temp file beside the target, fsync, rename), from
// @repirl/autograd's io, plus the JSON form the run files use.
import { writeFileAtomic } from '@repirl/autograd';

export { writeFileAtomic };

/** JSON with two-space indents and a final newline. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}
