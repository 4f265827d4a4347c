// scripts/setup.sh adds bookworm-backports from the mirror the machine already uses for bookworm
// (scripts/lib/apt-sources.sh), so a machine that reaches only its own mirror can still install
// lavapipe. Here on sample /etc/apt folders in both source formats.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const LIB = resolve(dirname(fileURLToPath(import.meta.url)), '../../../scripts/lib/apt-sources.sh');
const scratch = mkdtempSync(join(tmpdir(), 'repirl-apt-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let folders = 0;
/** A fresh /etc/apt-like folder holding `files` (paths relative to it). */
function aptDir(files: Record<string, string>): string {
  const dir = join(scratch, `apt${folders++}`);
  mkdirSync(join(dir, 'sources.list.d'), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function backportsMirror(dir: string): string {
  return execFileSync('bash', ['-c', 'source "$0" && backports_mirror "$1"', LIB, dir], { encoding: 'utf8' }).trim();
}

describe('backports_mirror (scripts/lib/apt-sources.sh)', () => {
  it('reuses the bookworm URI of a deb822 .sources file, skipping other suites, deb-src and disabled stanzas', () => {
    const dir = aptDir({
      'sources.list.d/debian.sources': [
        'Types: deb',
        'URIs: http://security.example/debian-security',
        'Suites: bookworm-security',
        'Components: main',
        '',
        'Types: deb-src',
        'URIs: http://src.example/debian',
        'Suites: bookworm',
        '',
        'Enabled: no',
        'Types: deb',
        'URIs: http://disabled.example/debian',
        'Suites: bookworm',
        '',
        'types: deb',
        '# http://snapshot.debian.org/archive/debian/20250520T000000Z',
        'uris: cdrom:[Debian 12]/',
        '  http://mirror.example/debian',
        'suites: bookworm-updates',
        '  bookworm',
        'Components: main',
        '',
      ].join('\n'),
    });
    expect(backportsMirror(dir)).toBe('http://mirror.example/debian');
  });

  it('reads the one-line format, options in brackets and comments included, sources.list first', () => {
    const dir = aptDir({
      'sources.list': [
        '# deb http://commented.example/debian bookworm main',
        'deb-src http://src.example/debian bookworm main',
        'deb http://updates.example/debian bookworm-updates main',
        'deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] https://list.example/debian/ bookworm main # ours',
      ].join('\n'),
      'sources.list.d/debian.sources': 'Types: deb\nURIs: http://later.example/debian\nSuites: bookworm\n',
    });
    expect(backportsMirror(dir)).toBe('https://list.example/debian/');
  });

  it('reads sources.list.d in name order, only .list and .sources files', () => {
    const dir = aptDir({
      'sources.list.d/a.list.disabled': 'deb http://disabled.example/debian bookworm main\n',
      'sources.list.d/b-other.list': 'deb https://deb.nodesource.com/node_20.x nodistro main\n',
      'sources.list.d/c-mirror.list': 'deb http://c.example/debian bookworm main\n',
      'sources.list.d/d-mirror.sources': 'Types: deb\nURIs: http://d.example/debian\nSuites: bookworm\n',
    });
    expect(backportsMirror(dir)).toBe('http://c.example/debian');
  });

  it("falls back to Debian's mirror when no source names bookworm", () => {
    expect(backportsMirror(aptDir({}))).toBe('http://deb.debian.org/debian');
    const others = aptDir({
      'sources.list': 'deb http://deb.debian.org/debian-security bookworm-security main\n',
      'sources.list.d/trixie.sources': 'Types: deb\nURIs: http://trixie.example/debian\nSuites: trixie\n',
    });
    expect(backportsMirror(others)).toBe('http://deb.debian.org/debian');
  });
});
