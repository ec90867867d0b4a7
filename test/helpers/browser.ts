/**
 * Debian's chromium (installed by scripts/test-deps.sh), headless, driven by
 * puppeteer-core over the DevTools protocol. Never a downloaded browser.
 * The flags keep it off the network (this machine's network is closed, and a
 * test must see every request the page makes) and give it a fresh profile.
 */
import puppeteer, { type Browser } from 'puppeteer-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.CAIRN_CHROMIUM ?? '/usr/bin/chromium';

/** `protocolTimeoutMs`: longest a single DevTools call may take (the bench waits minutes for one verification). */
export async function launchChromium(protocolTimeoutMs = 180_000): Promise<{ browser: Browser; close(): Promise<void> }> {
  const profile = await mkdtemp(join(tmpdir(), 'cairn-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    protocolTimeout: protocolTimeoutMs,
    userDataDir: profile,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  return {
    browser,
    close: async () => {
      await browser.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}
