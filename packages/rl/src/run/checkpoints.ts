// Whether a checkpoint folder is intact. When a checkpoint is committed, the run directory writes
// its manifest.json: every file with its size and SHA-256 (those in subfolders too, as "sub/name",
// e.g. hf/tokenizer.json). A folder is intact when every listed file is there with that size and
// hash. Folders from before manifests (older runs) are checked by structure instead: each .json
// parses, and each .safetensors file is as long as its header says. This is what lets --resume fall back from a truncated or corrupted latest checkpoint to
// the one before it.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@repirl/autograd';

export const MANIFEST_FILE = 'manifest.json';

interface Manifest {
  files: { name: string; size: number; sha256: string }[];
}

/** Writes `dir`/manifest.json for the files now in `dir` (hidden files and the manifest excluded). */
export async function writeManifest(dir: string): Promise<void> {
  const files: Manifest['files'] = [];
  for (const name of await checkpointFiles(dir)) {
    const path = join(dir, name);
    files.push({ name, size: (await stat(path)).size, sha256: await sha256File(path) });
  }
  await writeFileAtomic(join(dir, MANIFEST_FILE), `${JSON.stringify({ files } satisfies Manifest, null, 2)}\n`);
}

/** Null when the checkpoint folder `dir` is intact, else why not (a short phrase naming the file). */
export async function checkpointProblem(dir: string): Promise<string | null> {
  const folder = await stat(dir).catch(() => null);
  if (folder === null || !folder.isDirectory()) return 'the folder is missing';
  const manifestText = await readFile(join(dir, MANIFEST_FILE), 'utf8').catch(() => null);
  if (manifestText !== null) {
    let manifest: Manifest;
    try {
      manifest = JSON.parse(manifestText) as Manifest;
      if (!Array.isArray(manifest.files)) throw new Error('no files list');
    } catch {
      return `${MANIFEST_FILE} is unreadable`;
    }
    for (const { name, size, sha256 } of manifest.files) {
      const path = join(dir, name);
      const s = await stat(path).catch(() => null);
      if (s === null) return `${name} is missing`;
      if (s.size !== size) return `${name} has ${s.size} bytes instead of ${size}`;
      if ((await sha256File(path)) !== sha256) return `${name} is corrupt (its SHA-256 differs from the manifest)`;
    }
    return null;
  }
  const names = await checkpointFiles(dir);
  if (names.length === 0) return 'the folder is empty';
  for (const name of names) {
    const path = join(dir, name);
    if (name.endsWith('.json')) {
      try {
        JSON.parse(await readFile(path, 'utf8'));
      } catch {
        return `${name} is not valid JSON`;
      }
    } else if (name.endsWith('.safetensors')) {
      const problem = await safetensorsProblem(path);
      if (problem !== null) return `${name} ${problem}`;
    }
  }
  return null;
}

/** The files of a checkpoint folder, those in its subfolders as "sub/name" (e.g. hf/tokenizer.json); hidden ones and the manifest left out. */
async function checkpointFiles(dir: string, prefix = ''): Promise<string[]> {
  const entries = await readdir(join(dir, prefix), { withFileTypes: true });
  const names: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const name = prefix === '' ? e.name : `${prefix}/${e.name}`;
    if (e.isDirectory()) names.push(...(await checkpointFiles(dir, name)));
    else if (e.isFile() && name !== MANIFEST_FILE) names.push(name);
  }
  return names.sort();
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A safetensors file is an 8-byte header length n, n bytes of JSON, then the data its offsets cover. */
async function safetensorsProblem(path: string): Promise<string | null> {
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    if (size < 8) return 'is truncated (no header)';
    const prefix = Buffer.alloc(8);
    await handle.read(prefix, 0, 8, 0);
    const headerLength = Number(prefix.readBigUInt64LE(0));
    if (8 + headerLength > size) return 'is truncated (inside its header)';
    const header = Buffer.alloc(headerLength);
    await handle.read(header, 0, headerLength, 8);
    let entries: Record<string, { data_offsets?: [number, number] }>;
    try {
      entries = JSON.parse(header.toString('utf8')) as typeof entries;
    } catch {
      return 'has a corrupt header';
    }
    let end = 0;
    for (const [key, entry] of Object.entries(entries)) if (key !== '__metadata__' && Array.isArray(entry.data_offsets)) end = Math.max(end, entry.data_offsets[1]);
    if (8 + headerLength + end !== size) return `has ${size} bytes instead of ${8 + headerLength + end}`;
    return null;
  } finally {
    await handle.close();
  }
}
