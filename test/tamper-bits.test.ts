/**
 * Property: one flipped bit in a stored entry record, Merkle tree node or
 * checkpoint of a real node's LevelDB is found by the verifying command that
 * reads it, which exits 1 (tampering found) and names the seq or size.
 *
 * Which command reads what (README "CLI"):
 * - `cairn verify` streams every entry record, opens the checkpoint at the
 *   head, and checks the tree nodes the node extends its log from (its
 *   frontier: the roots of the complete subtrees at the head size) through
 *   the proofs of the first and last leaf.
 * - Every other tree node is read only to serve proofs: `cairn verify`
 *   rebuilds the tree from the entries instead, so by design it never sees
 *   such a node; `cairn proof --seq` of a leaf whose audit path holds the
 *   node does, and must fail.
 * - A checkpoint below the head is read only when its size is asked for:
 *   `cairn verify` trusts the latest signed checkpoint, which covers every
 *   entry; `cairn checkpoint --size --pubkey` reads it, and must fail.
 *
 * The node is stopped for each flip (LevelDB is single-writer), the bit is
 * flipped with the database opened directly, the node restarts (it reads its
 * head and frontier at start), the command runs, and the value is restored.
 * The commands run in-process through the CLI's `main` (the same code as
 * bin/cairn.js, without a process start per flip); the first flip of the
 * brief's example also runs through bin/cairn.js.
 */
import t from 'tap';
import fc from 'fast-check';
import { join } from 'node:path';
import { runCli, startTestNode, tempDir, type TestNode, appendInGroups } from './helpers/node.js';
import { LedgerStore } from '../src/storage/ledger-store.js';
import { readU64, tableRange, TAG } from '../src/storage/keys.js';
import { CompactRange } from '../src/core/merkle.js';
import { main } from '../src/cli/main.js';

const LOG = 'audit';
/** Not a power of two, so the frontier has several nodes; groups of 1 to 7 entries leave checkpoints at several sizes. */
const N = 40;

interface Stored {
  kind: 'entry' | 'node' | 'checkpoint';
  key: Uint8Array;
  /** entry: its seq; node: level and index; checkpoint: its size. */
  seq?: number;
  level?: number;
  index?: number;
  size?: number;
}

/** Runs the CLI in-process, capturing what it writes. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => ((stdout += String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((stderr += String(s)), true)) as typeof process.stderr.write;
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

/** A leaf whose audit path at size n holds the stored node (level, index). */
function leafUsing(level: number, index: number, n: number): number {
  const sibling = (index ^ 1) << level;
  // The sibling subtree starts inside the log: any of its leaves has the node on its path. Otherwise the node is
  // the last complete subtree, folded into the right-hand root that leaf 0's path holds.
  return sibling < n ? sibling : 0;
}

t.test('a flipped bit in any stored entry, tree node or checkpoint fails the command that reads it, exit 1, naming the seq or size', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.remove);
  const pub = join(dir.path, 'signing-key.pub.pem');
  const ledgerDir = join(dir.path, 'ledger');
  let tn: TestNode = await startTestNode({}, dir.path);
  await appendInGroups(tn.client, LOG, N);
  await tn.stop();

  const stored: Stored[] = [];
  let store = await LedgerStore.open(ledgerDir);
  for await (const k of store.rawDb.keys(tableRange(TAG.entry, LOG))) stored.push({ kind: 'entry', key: k, seq: readU64(k, k.length - 8) });
  for await (const k of store.rawDb.keys(tableRange(TAG.node, LOG))) stored.push({ kind: 'node', key: k, level: k[k.length - 9]!, index: readU64(k, k.length - 8) });
  for await (const k of store.rawDb.keys(tableRange(TAG.checkpoint, LOG))) stored.push({ kind: 'checkpoint', key: k, size: readU64(k, k.length - 8) });
  await store.close();
  const of = (kind: Stored['kind']): Stored[] => stored.filter((s) => s.kind === kind);
  t.equal(of('entry').length, N, 'every entry is stored');
  t.ok(of('checkpoint').length >= 3 && of('checkpoint').some((c) => c.size === N), `checkpoints at ${of('checkpoint').length} sizes, the head's included`);
  const frontier = new Set(CompactRange.nodesFor(N).map((id) => `${id.level}/${id.index}`));
  const isFrontier = (n: Stored): boolean => frontier.has(`${n.level}/${n.index}`);
  t.ok(of('node').filter(isFrontier).length >= 2, 'the frontier has several stored nodes');

  const server = (): string[] => ['--server', tn.node.grpcAddress];
  /** The command that reads a stored value, and what its failure must name. */
  const reader = (s: Stored): { args: string[]; names: RegExp } => {
    const verify = ['verify', ...server(), '--log', LOG, '--pubkey', pub, '--threads', '0'];
    if (s.kind === 'entry') return { args: verify, names: new RegExp(`entry ${s.seq}\\b`) };
    if (s.kind === 'checkpoint') {
      if (s.size === N) return { args: verify, names: new RegExp(`size ${N}\\b`) };
      return { args: ['checkpoint', ...server(), '--log', LOG, '--size', String(s.size), '--pubkey', pub], names: new RegExp(`size ${s.size}\\b`) };
    }
    if (isFrontier(s)) return { args: verify, names: new RegExp(`tree size ${N}\\b`) };
    const seq = leafUsing(s.level!, s.index!, N);
    return { args: ['proof', ...server(), '--log', LOG, '--seq', String(seq), '--pubkey', pub], names: new RegExp(`leaf ${seq}\\b`) };
  };

  /** Flips one bit of one stored value, runs its reader on a restarted node, restores the value. */
  const flip = async (s: Stored, bit: number, run = cli): Promise<{ code: number; stderr: string; args: string[]; names: RegExp }> => {
    store = await LedgerStore.open(ledgerDir);
    const orig = (await store.rawDb.get(s.key))!;
    const bad = Uint8Array.from(orig);
    bad[(bit >> 3) % bad.length]! ^= 1 << (bit & 7);
    await store.rawDb.put(s.key, bad);
    await store.close();
    tn = await startTestNode({}, dir.path);
    try {
      const { args, names } = reader(s);
      const r = await run(args);
      return { code: r.code, stderr: r.stderr, args: args.filter((a) => a !== tn.node.grpcAddress), names };
    } finally {
      await tn.stop();
      store = await LedgerStore.open(ledgerDir);
      await store.rawDb.put(s.key, orig);
      await store.close();
    }
  };

  // The brief example, through bin/cairn.js: a flipped bit in an entry record's body length field.
  const e25 = of('entry').find((e) => e.seq === 25)!;
  const byLength = await flip(e25, 8 + 7, runCli); // byte 1 is the top byte of bodyLen (u32 big-endian)
  t.equal(byLength.code, 1, `a damaged length field is tampering evidence, not a connection error: ${byLength.stderr}`);
  t.match(byLength.stderr, /VERIFICATION FAILED \[CORRUPTION\] entry 25\b/, 'names the seq');

  // A note's top bit set makes it not UTF-8: damage, whichever checkpoint it is (not the caller's bad input, exit 2).
  for (const c of [of('checkpoint').find((x) => x.size === N)!, of('checkpoint').find((x) => x.size! < N)!]) {
    const r = await flip(c, 7);
    t.equal(r.code, 1, `checkpoint ${c.size} not UTF-8: cairn ${r.args[0]} exits 1: ${r.stderr}`);
    t.match(r.stderr, r.names, 'names its size');
  }

  const problems: string[] = [];
  const seen = { entry: 0, node: 0, checkpoint: 0 };
  const byCommand = new Map<string, number>();
  // Half the node and checkpoint flips go to what `cairn verify` itself reads (the frontier, the head), the other half anywhere.
  const value = fc.oneof(
    fc.constantFrom(...of('entry')),
    fc.oneof(fc.constantFrom(...of('node').filter(isFrontier)), fc.constantFrom(...of('node'))),
    fc.oneof(fc.constantFrom(...of('checkpoint').filter((c) => c.size === N)), fc.constantFrom(...of('checkpoint'))),
  );
  const target = fc.tuple(value, fc.nat());
  await fc.assert(
    fc.asyncProperty(target, async ([s, bit]) => {
      seen[s.kind]++;
      const r = await flip(s, bit);
      const what = `${s.kind} (cairn ${r.args[0]})`;
      byCommand.set(what, (byCommand.get(what) ?? 0) + 1);
      const where = `${s.kind} ${JSON.stringify({ seq: s.seq, level: s.level, index: s.index, size: s.size })} bit ${bit}: cairn ${r.args.join(' ')}`;
      if (r.code !== 1) problems.push(`${where} exited ${r.code}: ${r.stderr.trim()}`);
      else if (!r.names.test(r.stderr)) problems.push(`${where} does not name ${r.names}: ${r.stderr.trim()}`);
    }),
    { numRuns: 45, seed: 6962 },
  );
  t.same(problems, [], `${seen.entry} entry, ${seen.node} node and ${seen.checkpoint} checkpoint flips, each found`);
  t.ok(seen.entry > 5 && seen.node > 5 && seen.checkpoint > 5, 'each kind was flipped several times');
  t.equal(byCommand.size, 5, `each reader was exercised: ${[...byCommand].map(([k, n]) => `${k}: ${n}`).join(', ')}`);

  // Every value is back: the untouched log verifies.
  tn = await startTestNode({}, dir.path);
  t.teardown(() => tn.stop());
  const clean = await cli(['verify', ...server(), '--log', LOG, '--pubkey', pub]);
  t.equal(clean.code, 0, clean.stderr);
});
