/**
 * Bundle lines read from bytes: LF or CRLF, a last line without a newline,
 * lines across read chunks, multi-byte UTF-8 across a chunk boundary, and a
 * line over the limit refused without being held.
 */
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readLines } from '../src/client/line-reader.js';
import { tempDir } from './helpers/node.js';

const all = async (path: string, max = 1 << 24): Promise<string[]> => {
  const out: string[] = [];
  for await (const l of readLines(path, max, (n) => new Error(`line ${n} too long`))) out.push(l);
  return out;
};

t.test('lines as written, whatever the chunking', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.remove);
  const p = join(dir.path, 'f');
  await writeFile(p, 'a\r\nb\n\nc');
  t.same(await all(p), ['a', 'b', '', 'c'], 'CRLF and LF, an empty line, no final newline');
  // Lines of varied lengths spanning several 1 MiB reads, with a 3-byte character at odd offsets.
  const lines = Array.from({ length: 300 }, (_, i) => `${i}:${'x'.repeat((i * 7919) % 20000)}€`);
  await writeFile(p, lines.join('\n') + '\n');
  t.same(await all(p), lines, '300 lines over several chunks, multi-byte characters intact');
  await writeFile(p, '');
  t.same(await all(p), [], 'an empty file has no lines');
});

t.test('a line over the limit is refused with its number', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.remove);
  const p = join(dir.path, 'f');
  await writeFile(p, `ok\n${'y'.repeat(5000)}\nnever`);
  await t.rejects(all(p, 4096), { message: 'line 2 too long' });
  await writeFile(p, 'z'.repeat(3 << 20));
  await t.rejects(all(p, 1 << 20), { message: 'line 1 too long' }, 'a file without newlines stops at the limit');
});
