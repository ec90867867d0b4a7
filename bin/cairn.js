#!/usr/bin/env node
// Launcher: the TypeScript sources are compiled to dist/ by `npm ci` (prepare).
process.setSourceMapsEnabled?.(true);
const { main } = await import('../dist/src/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
