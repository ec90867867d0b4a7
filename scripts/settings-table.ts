/**
 * The node settings table of docs/operations.md, generated from the settings
 * definition (`SETTINGS` and `DEFAULTS` in src/node/config.ts), so the doc
 * cannot fall behind the code. `test/docs.test.ts` fails when they differ.
 *
 *   node dist/scripts/settings-table.js           rewrites the table between the markers
 *   node dist/scripts/settings-table.js --print   prints it instead
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULTS, SETTINGS } from '../src/node/config.js';

export const BEGIN = '<!-- settings:begin -->';
export const END = '<!-- settings:end -->';
/** The repository root (this file runs from dist/scripts/). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const OPERATIONS_DOC = join(ROOT, 'docs', 'operations.md');

type Setting = (typeof SETTINGS)[number];

/** What values a setting takes, from its kind and bounds. */
function values(s: Setting): string {
  switch (s.kind) {
    case 'string':
      return 'non-empty string';
    case 'string?':
      return 'string';
    case 'path?':
      return 'file path';
    case 'hostport':
      return '`HOST:PORT`';
    case 'hostport?':
      return '`HOST:PORT` or `""`';
    case 'int':
      return `integer, ${(s.min ?? 0).toLocaleString('en-US')} to ${(s.max ?? Number.MAX_SAFE_INTEGER).toLocaleString('en-US')}`;
    case 'level':
      return '`debug`, `info`, `warn`, `error`, `silent`';
    case 'name':
      return '1-128 of `[A-Za-z0-9._/-]`';
    case 'signing':
      return '`worker`, `inline`';
    case 'anchor':
      return '`local`, `fabric`, `off`';
    case 'channel?':
      return 'Fabric channel name';
    case 'chaincode?':
      return 'Fabric chaincode name';
    case 'clientcert':
      return '`optional`, `required`';
    case 'bool':
      return '`true`, `false`';
  }
}

function defaultOf(s: Setting): string {
  const v = DEFAULTS[s.key];
  if (v === '' || v === undefined) return 'unset';
  return '`' + String(v) + '`';
}

/** Markdown cells may not hold a bare `|`. */
const cell = (s: string): string => s.replace(/\|/g, '\\|');

/** The table, one row per setting in definition order. */
export function settingsTable(): string {
  const rows = SETTINGS.map((s) => [`\`${s.file}\``, `\`--${s.flag}\``, `\`${s.env}\``, defaultOf(s), values(s), s.meaning]);
  return [
    '| config key | flag | environment | default | values | meaning |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => '| ' + r.map(cell).join(' | ') + ' |'),
  ].join('\n');
}

/**
 * The text between the markers of `doc`.
 * @throws Error when the markers are missing or out of order
 */
export function tableInDoc(doc: string): string {
  const b = doc.indexOf(BEGIN);
  const e = doc.indexOf(END);
  if (b < 0 || e < b) throw new Error(`docs/operations.md must hold ${BEGIN} ... ${END}`);
  return doc.slice(b + BEGIN.length, e).trim();
}

/** `doc` with the generated table between its markers. */
export function withTable(doc: string): string {
  tableInDoc(doc);
  return doc.slice(0, doc.indexOf(BEGIN) + BEGIN.length) + '\n' + settingsTable() + '\n' + doc.slice(doc.indexOf(END));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--print')) {
    console.log(settingsTable());
  } else {
    const doc = await readFile(OPERATIONS_DOC, 'utf8');
    const next = withTable(doc);
    if (next !== doc) await writeFile(OPERATIONS_DOC, next);
    console.log(next === doc ? 'docs/operations.md: settings table up to date' : 'docs/operations.md: settings table rewritten');
  }
}
