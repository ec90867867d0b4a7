#!/usr/bin/env node
/**
 * Builds the auditor's console (src/console/, docs/console.md) into
 * dist/console/: type-checks it (tsconfig.console.json: the browser's DOM
 * types, which the Node build does not have), bundles the page and the
 * verification worker with esbuild, and copies the HTML and CSS. The page
 * loads as a classic script (not a module): a page opened from file://
 * cannot load module scripts. `#crypto` resolves to the browser side
 * (core/crypto-web.ts, @noble).
 *
 *   node scripts/build-console.mjs [--no-check]
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src', 'console');
const out = join(root, 'dist', 'console');

if (!process.argv.includes('--no-check')) {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.console.json')], { stdio: 'inherit' });
}
await mkdir(out, { recursive: true });
/** The browser side of the core's `#crypto` import map (package.json "imports"). */
const webCrypto = {
  name: 'cairn-crypto-web',
  setup(b) {
    b.onResolve({ filter: /^#crypto$/ }, () => ({ path: join(root, 'src', 'core', 'crypto-web.ts') }));
  },
};
const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
await build({
  entryPoints: { console: join(src, 'main.ts'), 'verify-worker': join(src, 'verify-worker.ts') },
  outdir: out,
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['chrome120', 'firefox120', 'safari17'],
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  plugins: [webCrypto],
  // The name `cairn report` gives itself in a report (its generator), so both render the same bytes.
  define: { CAIRN_VERSION: JSON.stringify(`cairn ${pkg.version}`) },
  logLevel: 'warning',
});
await copyFile(join(src, 'index.html'), join(out, 'index.html'));
await copyFile(join(src, 'console.css'), join(out, 'console.css'));
