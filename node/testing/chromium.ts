/**
 * Debian's Chromium for browser tests and benches (playwright-core drives it), with a throw-away
 * profile directory. `close()` closes the browser *before* removing the profile: removing it while
 * Chromium still wrote to it failed the cleanup with ENOTEMPTY (a flaky test).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** The flags the guide prescribes for this machine (its closed network refuses Chromium's own calls). */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking'];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(viewport: { width: number; height: number }): Promise<Browser> {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fp-chromium-'));
  const removeProfile = (): void => fs.rmSync(userDataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, viewport, args: CHROMIUM_ARGS });
  } catch (err) {
    removeProfile();
    throw err;
  }
  return {
    context,
    close: async () => {
      await context.close().catch(() => {});
      removeProfile();
    },
  };
}
