// A real headless browser for the report: Debian's chromium (scripts/setup.sh installs it) driven
// by playwright-core through its executablePath, with a fresh profile each time; nothing downloads
// a browser. `repirl report --screenshot` and the report's browser test open pages through it.
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeFileAtomic } from '@repirl/autograd';
import { ReportError } from './runs.js';

/** The browser binary: $REPIRL_CHROMIUM, else Debian's. */
export const chromiumPath = (env: Record<string, string | undefined> = process.env) => env.REPIRL_CHROMIUM ?? '/usr/bin/chromium';

/** The path, when a browser is there; else a ReportError saying how to get one. */
export function requireChromium(executablePath: string): string {
  if (!existsSync(executablePath)) throw new ReportError(`no browser at ${executablePath}: bash scripts/setup.sh installs Debian's chromium (or set REPIRL_CHROMIUM)`);
  return executablePath;
}

/** Headless, no sandbox (root in containers), and none of its background traffic. */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Runs `use` with a page of a fresh chromium (its own temporary profile, removed after). */
export async function withChromiumPage<T>(use: (page: import('playwright-core').Page) => Promise<T>, options: { executablePath?: string; width?: number; height?: number } = {}): Promise<T> {
  const executablePath = requireChromium(options.executablePath ?? chromiumPath());
  const { chromium } = await import('playwright-core');
  const profile = await mkdtemp(join(tmpdir(), 'repirl-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, { executablePath, args: CHROMIUM_ARGS, viewport: { width: options.width ?? 1280, height: options.height ?? 900 } });
    try {
      return await use(context.pages()[0] ?? (await context.newPage()));
    } finally {
      await context.close();
    }
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}

/** A PNG of the page at `html` (the whole page, or its top `maxHeight` pixels), written atomically to `png`. */
export async function screenshotPage(html: string, png: string, options: { executablePath?: string; maxHeight?: number } = {}): Promise<void> {
  const image = await withChromiumPage(async (page) => {
    await page.goto(pathToFileURL(resolve(html)).href);
    // (A string, evaluated in the page: this package is typed without the DOM.)
    const { width, height } = (await page.evaluate('({ width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight })')) as { width: number; height: number };
    const cut = options.maxHeight !== undefined && height > options.maxHeight;
    return page.screenshot({ fullPage: true, ...(cut ? { clip: { x: 0, y: 0, width, height: options.maxHeight! } } : {}) });
  }, options);
  await writeFileAtomic(png, image);
}
