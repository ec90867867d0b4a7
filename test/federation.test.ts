/**
 * Federation, end to end with real node processes over loopback: the ring
 * of five (each node follows the next and asks the next two to witness its
 * checkpoints, every link through a proxy adding 50-200 ms per chunk)
 * converges to one vector with every log everywhere, and every node's copy
 * of every origin verifies with that origin's pinned key and two
 * cosignatures from the pinned witness keys; a mirrored log is never
 * appended to.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { runCli } from './helpers/node.js';
import type { LedgerClient } from '../src/client/ledger-client.js';
import { verifyLogOnline } from '../src/client/verify-log.js';
import { pemToDer } from '../src/core/ecdsa-der.js';
import type { PinnedWitness } from '../src/core/cosignature.js';
import { ringWitnesses, startFederation, waitConverged } from './helpers/federation.js';

const NAMES = ['a', 'b', 'c', 'd', 'e'];
const LOG = 'ring';
const APPENDS = 1000;
/** Each origin's checkpoints must carry this many cosignatures by the pinned witness keys (every node's). */
const MIN_WITNESSES = 2;

t.test('the ring of five: 1,000 concurrent appends, then every node holds every log, one vector, one root per log, and each copy verifies with its origin\'s key', async (t) => {
  // a follows b, b follows c, ..., e follows a.
  const links = NAMES.map((from, i) => ({ from, to: NAMES[(i + 1) % NAMES.length]! }));
  // Each origin asks the next two to witness it: a cosigns e's and d's checkpoints.
  const witnesses = ringWitnesses(NAMES, MIN_WITNESSES);
  let t0 = Date.now();
  const phase = (what: string): void => {
    t.comment(`${what}: ${Date.now() - t0} ms`);
    t0 = Date.now();
  };
  const fed = await startFederation(NAMES, links, { pollMs: 200, witnesses });
  phase('five nodes started');
  t.teardown(fed.close);
  const nodes = NAMES.map((n) => fed.nodes.get(n)!);
  // The auditor pins every node's witness key and asks for two cosignatures.
  const witnessKeys: PinnedWitness[] = await Promise.all(nodes.map(async (n) => ({ spki: pemToDer(await readFile(n.witnessKeyPath, 'utf8'), 'PUBLIC KEY'), label: n.name })));
  const WITNESS_ARGS = [...nodes.flatMap((n) => ['--witness-key', n.witnessKeyPath]), '--min-witnesses', String(MIN_WITNESSES)];

  // Spread over the five nodes' logs, each node taking 8 appends at a time, all nodes at once.
  const perNode = APPENDS / nodes.length;
  await Promise.all(
    nodes.map(async (n) => {
      for (let i = 0; i < perNode; i += 8) {
        await Promise.all(Array.from({ length: Math.min(8, perNode - i) }, (_, k) => n.client.append({ log: LOG, configId: `cfg/${i + k}`, operator: n.name, action: 'update', payloadJson: JSON.stringify({ n: i + k }) })));
      }
    }),
  );
  phase('1,000 appends');
  const r = await waitConverged(nodes.map((n) => n.client), NAMES.length, 40_000);
  t.ok(r.converged, `converged in ${r.ms} ms after the last append`);
  t.equal(new Set(r.vectors).size, 1, 'every vector is the same');
  const lines = r.vectors[0]!.split('\n');
  t.same(lines.map((l) => l.split(' ').slice(0, 2).join(' ')), NAMES.map((n) => `${n}/${LOG} ${perNode}`), 'each origin\'s log, complete, in every vector (one root each: the vectors are equal)');

  phase('converged');
  // The witnesses cosign each last checkpoint after the mirrors took it: its cosignatures follow it down each relay chain.
  const cosigned = await waitCosigned(nodes.map((n) => n.client), NAMES, LOG, perNode, 30_000);
  t.ok(cosigned.ok, `every node serves every origin's last checkpoint with ${MIN_WITNESSES} cosignatures, ${cosigned.ms} ms after convergence${cosigned.ok ? '' : `; missing: ${cosigned.missing.join(', ')}`}`);
  phase('cosigned everywhere');
  // Every node serves every origin's log; each copy verifies from that origin's pinned key and the pinned
  // witness keys only, with the verifier `cairn verify` runs (in this process: 25 CLI starts cost a minute on a loaded box)...
  for (const server of nodes) {
    await Promise.all(
      nodes.map(async (origin) => {
        const key = pemToDer(await readFile(origin.pubkeyPath, 'utf8'), 'PUBLIC KEY');
        const res = await verifyLogOnline(server.client.withOrigin(origin.name), LOG, { publicKeySpki: key, signatureThreads: 0, progress: false, witnesses: { keys: witnessKeys, min: MIN_WITNESSES } });
        t.match(res, { size: perNode, entriesVerified: perNode }, `${origin.name}'s log verifies from node ${server.name}`);
        t.ok((res.witnesses?.length ?? 0) >= MIN_WITNESSES, `${origin.name}'s checkpoint served by ${server.name} carries ${res.witnesses?.length} valid cosignatures`);
      }),
    );
  }
  // ...and through the CLI, each node asked for the log of the origin two hops upstream (mirrored from a mirror).
  await Promise.all(
    nodes.map(async (server, i) => {
      const origin = nodes[(i + 2) % nodes.length]!;
      const out = await runCli(['verify', '--server', server.proc.address, '--log', LOG, '--origin', origin.name, '--pubkey', origin.pubkeyPath, '--threads', '0', ...WITNESS_ARGS]);
      t.equal(out.code, 0, `cairn verify --origin ${origin.name} against node ${server.name}: ${out.stderr.trim().slice(0, 300)}`);
      if (out.code === 0) t.match(JSON.parse(out.stdout), { ok: true, size: perNode, entriesVerified: perNode });
    }),
  );
  phase('verifications');

  // Cosignatures given and received, end to end through `cairn federation status`: a witnesses e and d, b and c witness a.
  const st = await runCli(['federation', 'status', '--server', nodes[0]!.proc.address, '--json']);
  t.equal(st.code, 0, `cairn federation status: ${st.stderr.trim().slice(0, 300)}`);
  const peers = new Map((JSON.parse(st.stdout) as { peers: Array<{ name: string; cosignaturesGiven: number | string; cosignaturesReceived: number | string }> }).peers.map((p) => [p.name, p]));
  for (const w of ['b', 'c']) t.ok(Number(peers.get(w)?.cosignaturesReceived) > 0, `a received cosignatures from ${w}: ${peers.get(w)?.cosignaturesReceived}`);
  for (const o of ['d', 'e']) t.ok(Number(peers.get(o)?.cosignaturesGiven) > 0, `a cosigned ${o}'s checkpoints: ${peers.get(o)?.cosignaturesGiven}`);
  t.equal(Number(peers.get('b')?.cosignaturesGiven), 0, 'a does not witness b');
  t.equal(Number(peers.get('d')?.cosignaturesReceived), 0, 'd does not witness a');
  const table = await runCli(['federation', 'status', '--server', nodes[0]!.proc.address]);
  t.match(table.stdout, /COSIG GIVEN\s+COSIG RECEIVED/, 'the table has the cosignature columns');

  // Another origin's key does not verify a copy: the origin's pinned key is what counts, not who serves it.
  const wrong = await runCli(['verify', '--server', nodes[0]!.proc.address, '--log', LOG, '--origin', 'c', '--pubkey', nodes[1]!.pubkeyPath]);
  t.equal(wrong.code, 1, 'c\'s log served by a does not verify with b\'s key');

  // A mirrored log can never be appended to.
  await t.rejects(nodes[0]!.client.withOrigin('b').append({ log: LOG, configId: 'x', operator: 'mallory', action: 'update' }), {
    code: 9,
    details: /origin: log ring of origin b is a mirror and cannot be appended to; append at its origin, b/,
  });
  const size = (await nodes[0]!.client.withOrigin('b').getCheckpoint(LOG)).size;
  t.equal(size, perNode, 'nothing was added to the mirror');
  // The node's own name as origin is its own log.
  t.equal((await nodes[0]!.client.withOrigin('a').getCheckpoint(LOG)).size, perNode);
});

/**
 * Polls until every node serves each origin's checkpoint at `size` with
 * MIN_WITNESSES cosignatures (GetCheckpoint min_cosignatures, with origin
 * for a mirror); verification checks the lines themselves.
 */
async function waitCosigned(clients: readonly LedgerClient[], origins: readonly string[], log: string, size: number, timeoutMs: number): Promise<{ ok: boolean; ms: number; missing: string[] }> {
  const start = Date.now();
  for (;;) {
    const missing: string[] = [];
    await Promise.all(
      clients.flatMap((c, i) =>
        origins.map(async (o) => {
          const cp = await c.withOrigin(o).getCosignedCheckpoint(log, MIN_WITNESSES).catch(() => undefined);
          if (cp?.size !== size) missing.push(`${o}@${NAMES[i]}`);
        }),
      ),
    );
    if (missing.length === 0 || Date.now() - start > timeoutMs) return { ok: missing.length === 0, ms: Date.now() - start, missing: missing.sort() };
    await new Promise((r) => setTimeout(r, 100));
  }
}
