/**
 * The module map of docs/architecture.md, enforced: every import in src/
 * points down the table below, never up or sideways, and core/ stays pure so
 * the same verification code runs in Node and in a browser.
 */
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT } from './helpers/node.js';

const SRC = join(ROOT, 'src');

/**
 * Each folder of src/ and the folders it may import, read from the module
 * map table in docs/architecture.md: the document is the rule, this test
 * holds the code to it. "nothing" and "nothing in `src/`" allow no folder,
 * "every folder above" allows each folder of the rows before it.
 */
export function parseModuleMap(markdown: string): Record<string, string[]> {
  const map: Record<string, string[]> = {};
  for (const line of markdown.split('\n')) {
    const row = /^\| `src\/([a-z-]+)\/` \|.*\| ([^|]+) \|$/.exec(line);
    if (!row) continue;
    const allowed = row[2]!.trim();
    map[row[1]!] = allowed === 'every folder above' ? Object.keys(map) : [...allowed.matchAll(/`([a-z-]+)`/g)].map((m) => m[1]!);
  }
  return map;
}

export const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = parseModuleMap(readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8'));

/** Folders that must run in a browser: no Node built-ins, only the packages below. */
const PURE_FOLDERS = new Set(['core', 'report']);
/** Packages pure folders may use: pure JavaScript that runs in a browser. `#crypto` picks node:crypto or noble by environment. */
const CORE_PACKAGES = new Set(['json-canonicalize', '#crypto', '@noble/curves', '@noble/hashes']);
/** The one core file that is Node's side of `#crypto` (package.json "imports"). */
const CORE_NODE_VARIANT = 'crypto-node.ts';


function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return /\.(c|m)?ts$/.test(name) && !name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Static and dynamic import specifiers, and re-exports. */
export function importsOf(text: string): string[] {
  const specs: string[] = [];
  const re = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]\s*\)/gm;
  for (const m of text.matchAll(re)) specs.push((m[1] ?? m[2] ?? m[3] ?? m[4])!);
  return specs;
}

const folderOf = (file: string): string => relative(SRC, file).split('/')[0]!;
const packageName = (spec: string): string => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);

interface Problem {
  file: string;
  imports: string;
  why: string;
}

function problemsOf(file: string, text = readFileSync(file, 'utf8')): Problem[] {
  const from = folderOf(file);
  const allowed = MAY_IMPORT[from];
  const rel = relative(ROOT, file);
  if (!allowed) return [{ file: rel, imports: '', why: `folder src/${from} is not in the module map` }];
  const problems: Problem[] = [];
  for (const spec of importsOf(text)) {
    if (spec.startsWith('.')) {
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(SRC + '/')) {
        problems.push({ file: rel, imports: spec, why: 'reaches outside src/' });
        continue;
      }
      const to = folderOf(target);
      if (to !== from && !allowed.includes(to)) problems.push({ file: rel, imports: spec, why: `src/${from} may not import src/${to}` });
    } else if (PURE_FOLDERS.has(from) && !(from === 'core' && file.endsWith(CORE_NODE_VARIANT)) && !CORE_PACKAGES.has(packageName(spec))) {
      problems.push({ file: rel, imports: spec, why: `${from}/ is pure: no Node built-ins, no packages that need Node` });
    }
  }
  return problems;
}

/** Static imports that stay in the built code (`import type` is erased by the compiler). */
function runtimeImportsOf(text: string): string[] {
  return importsOf(text.replace(/^\s*import\s+type\s[^;]*;/gm, ''));
}

/**
 * Every file the browser console reaches, through its runtime imports:
 * the console's own files, and the modules of `core` and `sync` it uses.
 * Each must be browser-safe: no Node built-in, no package but the pure ones.
 */
function browserProblems(): { problems: Problem[]; reached: string[] } {
  const seen = new Set<string>();
  const problems: Problem[] = [];
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const spec of runtimeImportsOf(text)) {
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec).replace(/\.js$/, '.ts'));
      else if (!CORE_PACKAGES.has(packageName(spec))) problems.push({ file: relative(ROOT, file), imports: spec, why: 'the console runs in a browser: no Node built-ins, no packages that need Node' });
    }
  };
  for (const f of sourceFiles(join(SRC, 'console'))) visit(f);
  return { problems, reached: [...seen].map((f) => relative(ROOT, f)) };
}

t.test('the import scanner sees every form of import the code uses', async (t) => {
  const text = [
    "import { a } from '../core/a.js';",
    "import type { B } from '../ledger/b.js';",
    "export { c } from './c.js';",
    "const m = await import('../node/node.js');",
    "import '../side/effect.js';",
    "const r = require('./chaincode.cjs');",
  ].join('\n');
  t.same(importsOf(text), ['../core/a.js', '../ledger/b.js', './c.js', '../node/node.js', '../side/effect.js', './chaincode.cjs']);
});

t.test('the module map is read from the table in docs/architecture.md', async (t) => {
  const table = ['| folder | job | may import |', '|---|---|---|', '| `src/core/` | pure | nothing |', '| `src/ledger/` | write path | `storage`, `core` |', '| `src/cli/` | the command | every folder above |', '| `src/chaincode/` | own package | nothing in `src/` |'].join('\n');
  t.same(parseModuleMap(table), { core: [], ledger: ['storage', 'core'], cli: ['core', 'ledger'], chaincode: [] });
  t.same(MAY_IMPORT.core, [], 'core imports no other folder');
  t.ok(Object.keys(MAY_IMPORT).length >= 12, `the table lists ${Object.keys(MAY_IMPORT).length} folders`);
});

t.test('every folder of src/ is in the module map, and the map has no cycle', async (t) => {
  const folders = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory());
  t.same(folders.filter((f) => !(f in MAY_IMPORT)), [], 'folders missing from the map');
  t.same(Object.keys(MAY_IMPORT).filter((f) => !folders.includes(f)), [], 'map entries with no folder');
  // Depth-first search for a path back to the start.
  const cycles: string[] = [];
  const visit = (start: string, at: string, path: string[]): void => {
    for (const next of MAY_IMPORT[at] ?? []) {
      if (next === start) cycles.push([...path, next].join(' -> '));
      else if (!path.includes(next)) visit(start, next, [...path, next]);
    }
  };
  for (const f of Object.keys(MAY_IMPORT)) visit(f, f, [f]);
  t.same(cycles, []);
});

t.test('every import in src/ points down the module map', async (t) => {
  const files = sourceFiles(SRC);
  t.ok(files.length > 50, `scanned ${files.length} source files`);
  t.same(files.flatMap((f) => problemsOf(f)), []);
});

t.test('the check catches an import that points up the map, and a Node built-in in core/', async (t) => {
  const inCore = problemsOf(join(SRC, 'core', 'fake.ts'), "import { Ledger } from '../ledger/ledger.js';\nimport { readFile } from 'node:fs';\nimport { leafHash } from './merkle.js';");
  t.same(inCore.map((p) => p.imports), ['../ledger/ledger.js', 'node:fs']);
  const inLedger = problemsOf(join(SRC, 'ledger', 'fake.ts'), "import { startNode } from '../node/node.js';\nimport { LedgerStore } from '../storage/ledger-store.js';");
  t.same(inLedger, [{ file: 'src/ledger/fake.ts', imports: '../node/node.js', why: 'src/ledger may not import src/node' }]);
});

t.test('the browser console reaches only browser-safe code, through every import it makes', async (t) => {
  const { problems, reached } = browserProblems();
  t.same(problems, []);
  t.ok(reached.includes('src/sync/diff-format.ts') && reached.includes('src/report/render-report.ts') && reached.includes('src/core/crypto-web.ts') === false && reached.includes('src/core/entry.ts'), `followed ${reached.length} files into core and sync`);
  t.same(runtimeImportsOf("import type { A } from 'node:fs';\nimport { b } from './b.js';"), ['./b.js'], 'type-only imports are erased');
  t.ok(MAY_IMPORT.console?.includes('core'), 'the console may import core');
});

t.test('report/ is held to core\'s purity: no Node built-in, no folder but core', async (t) => {
  const inReport = problemsOf(join(SRC, 'report', 'fake.ts'), "import { writeFile } from 'node:fs/promises';\nimport { readSyncEntry } from '../sync/sync-entry.js';\nimport { toHex } from '../core/bytes.js';\nimport { esc } from './format.js';");
  t.same(inReport, [
    { file: 'src/report/fake.ts', imports: 'node:fs/promises', why: 'report/ is pure: no Node built-ins, no packages that need Node' },
    { file: 'src/report/fake.ts', imports: '../sync/sync-entry.js', why: 'src/report may not import src/sync' },
  ]);
  t.same(MAY_IMPORT.report, ['core']);
});
