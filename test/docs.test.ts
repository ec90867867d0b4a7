/**
 * The documentation stays true to the code: the settings table in
 * docs/operations.md is the one generated from src/node/config.ts, every
 * `docs/...` path the sources cite exists, every relative link in README.md
 * and docs/*.md leads to a file (and to a heading, when it names one), and
 * the worked example of docs/format.md shows the bytes of docs/example/.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { ROOT } from './helpers/node.js';
import { OPERATIONS_DOC, settingsTable, tableInDoc } from '../scripts/settings-table.js';

/** Text files under `dir` (recursively) whose names end in one of `exts`. */
async function files(dir: string, exts: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(ROOT, dir), { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p, exts)));
    else if (exts.some((x) => e.name.endsWith(x))) out.push(p);
  }
  return out;
}

const markdownFiles = async (): Promise<string[]> => ['README.md', ...(await files('docs', ['.md']))];

/** Fenced code blocks removed: links and paths inside them are examples, not references. */
const withoutCodeBlocks = (md: string): string => md.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '');

/** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of withoutCodeBlocks(md).matchAll(/^#{1,6} (.+)$/gm)) {
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

t.test('the settings table in docs/operations.md is the one generated from the settings definition', async (t) => {
  const doc = await readFile(OPERATIONS_DOC, 'utf8');
  t.equal(tableInDoc(doc), settingsTable(), 'run `node dist/scripts/settings-table.js` to regenerate it');
});

/** Each match of `pattern` in `files` that names no existing file (a path from the repository root), and how many matched. */
async function missingPaths(files: readonly string[], pattern: RegExp): Promise<{ problems: string[]; found: number }> {
  const problems: string[] = [];
  let found = 0;
  for (const f of files) {
    const text = await readFile(join(ROOT, f), 'utf8');
    for (const m of text.matchAll(pattern)) {
      found++;
      if (!existsSync(join(ROOT, m[0]))) problems.push(`${f}: ${m[0]} does not exist`);
    }
  }
  return { problems, found };
}

t.test('every docs/ path cited in src, proto, scripts, docs and the README exists', async (t) => {
  const sources = [
    ...(await files('src', ['.ts', '.cts', '.md', '.json'])),
    ...(await files('proto', ['.proto'])),
    ...(await files('scripts', ['.ts', '.sh', '.md'])),
    ...(await files('docs', ['.md', '.sh'])),
    'README.md',
  ];
  // Not part of a URL or a longer path (kubernetes.io/docs/... is not ours).
  const { problems, found } = await missingPaths(sources, /(?<![\w./-])docs\/[\w./-]*[\w/]/g);
  t.ok(found > 10, `found the citations (${found})`);
  t.same(problems, []);
});

t.test('every source file the docs name exists (the architecture tour and module map cannot rot)', async (t) => {
  // `src/ledger/sequencer.ts`, `test/crash.test.ts`, `scripts/bench.ts`: paths from the repository root.
  const { problems, found } = await missingPaths(await markdownFiles(), /(?<![\w./-])(?:src|test|scripts|proto)\/[\w./-]+\.(?:ts|cts|proto|sh|json)\b/g);
  t.ok(found > 20, `found the paths (${found})`);
  t.same(problems, []);
});

t.test('every relative link in README.md and docs/*.md leads to a file, and to a heading when it names one', async (t) => {
  const problems: string[] = [];
  let links = 0;
  for (const f of await markdownFiles()) {
    const md = await readFile(join(ROOT, f), 'utf8');
    for (const m of withoutCodeBlocks(md).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      links++;
      const [path, anchor] = target.split('#', 2) as [string, string | undefined];
      const file = path === '' ? join(ROOT, f) : join(ROOT, dirname(f), path);
      if (!existsSync(file)) {
        problems.push(`${f}: ${target}: no such file ${relative(ROOT, file)}`);
        continue;
      }
      if (anchor !== undefined && file.endsWith('.md') && !anchorsOf(await readFile(file, 'utf8')).has(anchor)) {
        problems.push(`${f}: ${target}: no heading #${anchor} in ${relative(ROOT, file)}`);
      }
    }
  }
  t.ok(links > 20, `found the links (${links})`);
  t.same(problems, []);
});

t.test('the README links every file in docs/', async (t) => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const missing = (await files('docs', ['.md'])).filter((f) => !readme.includes(`](${f})`));
  t.same(missing, []);
});

t.test('the worked example of docs/format.md shows the bytes of docs/example/', async (t) => {
  const doc = await readFile(join(ROOT, 'docs', 'format.md'), 'utf8');
  const example = (name: string): Promise<string> => readFile(join(ROOT, 'docs', 'example', name), 'utf8');
  const problems: string[] = [];
  for (const [what, text] of [
    ['public key (pub.pem)', (await example('pub.pem')).trim()],
    ['entry 0 body (entry-0.body.json)', await example('entry-0.body.json')],
    ['entryHash 0 (entry-0.hash.hex)', (await example('entry-0.hash.hex')).trim()],
    ['entryHash 1 (entry-1.hash.hex)', (await example('entry-1.hash.hex')).trim()],
    ['signature 0 (entry-0.sig.der)', Buffer.from(await readFile(join(ROOT, 'docs', 'example', 'entry-0.sig.der'))).toString('hex')],
    ['checkpoint (checkpoint.txt)', (await example('checkpoint.txt')).trim()],
  ] as const) {
    if (!doc.includes(text)) problems.push(`docs/format.md does not show the example's ${what}`);
  }
  t.same(problems, []);
});
