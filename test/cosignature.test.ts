/**
 * Witness cosignatures (docs/format.md section 9) and the split-view
 * detector, read like the spec: the worked example verifies with the core
 * and with OpenSSL alone, any single changed byte is caught, a quorum counts
 * only valid cosignatures from pinned keys, and two checkpoints that cannot
 * both be true are told apart from two that can.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, tempDir } from './helpers/node.js';
import { SigningKey } from '../src/keys/signing-key.js';
import { pemToDer } from '../src/core/ecdsa-der.js';
import { toHex, utf8 } from '../src/core/bytes.js';
import { VerificationError } from '../src/core/errors.js';
import { cosignatureKeyId, cosignedMessage, cosignedNote, cosignLine, parseCosignatureLines, verifyWitnessQuorum, witnessKey, type WitnessKey } from '../src/core/cosignature.js';
import { parseNote } from '../src/core/note.js';
import { openLogCheckpoint } from '../src/core/log-verifier.js';
import { signCheckpoint, type Checkpoint } from '../src/core/checkpoint.js';
import { EMPTY_ROOT, leafHash, nodeHash, committedRootAt } from '../src/core/merkle.js';
import { checkSplitViewEvidence, detectSplitView, rollbackEvidence, type SeenCheckpoint } from '../src/core/split-view.js';
import { sha256 } from '#crypto';

const run = promisify(execFile);
const EXAMPLE = join(ROOT, 'docs', 'example');
const COSIGNED = join(EXAMPLE, 'cosignature');

async function example(): Promise<{ note: string; witness: WitnessKey; logKey: Uint8Array; values: { keyId: string; time: number; message: string; line: string } }> {
  const note = await readFile(join(COSIGNED, 'cosigned-checkpoint.txt'), 'utf8');
  const witness = witnessKey('witness.example', pemToDer(await readFile(join(COSIGNED, 'witness.pub.pem'), 'utf8'), 'PUBLIC KEY'));
  const logKey = pemToDer(await readFile(join(EXAMPLE, 'pub.pem'), 'utf8'), 'PUBLIC KEY');
  const values = JSON.parse(await readFile(join(COSIGNED, 'values.json'), 'utf8')) as { keyId: string; time: number; message: string; line: string };
  return { note, witness, logKey, values };
}

t.test('the worked example: key ID, signed message and cosignature are the documented bytes', async (t) => {
  const { note, witness, logKey, values } = await example();
  t.equal(witness.keyId.toString(16).padStart(8, '0'), values.keyId);
  // The key ID by its definition, spelled out: SHA-256(name || 0x0A || 0xFF || type || 0x0A || SPKI)[:4].
  const spelled = sha256(new Uint8Array([...utf8('witness.example\n'), 0xff, ...utf8('cairn-cosignature/v1\n'), ...witness.spki]));
  t.equal(toHex(spelled.subarray(0, 4)), values.keyId);
  const text = parseNote(note).text;
  t.equal(new TextDecoder().decode(cosignedMessage(text, values.time)), values.message);
  t.match(values.message, /^cosignature\/v1\ntime 1795770600\ncairn\.example\/prod\n2\n/);
  const r = verifyWitnessQuorum(note, [], [witness], 1);
  t.same(r.witnesses, [{ name: 'witness.example', keyId: values.keyId, timestamp: values.time }]);
  // The log's own signature is untouched by the cosignature beside it.
  t.equal(openLogCheckpoint(note, 'prod', logKey, 'cairn.example').size, 2);
  // The same line given apart from the note counts the same.
  const bare = note.slice(0, note.indexOf('\u2014 witness.example'));
  t.equal(verifyWitnessQuorum(bare, [values.line], [witness], 1).witnesses.length, 1);
});

t.test('the example cosignature verifies with only OpenSSL and coreutils', async (t) => {
  const { stdout } = await run('bash', [join(COSIGNED, 'verify-with-openssl.sh')]);
  t.match(stdout, /VERIFIED/);
});

t.test('any single changed byte of the cosigned checkpoint is caught', async (t) => {
  const { note, witness, logKey } = await example();
  const bytes = utf8(note);
  let caught = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes.slice();
    b[i] = b[i]! ^ 0x01;
    let tampered: string;
    try {
      tampered = new TextDecoder('utf-8', { fatal: true }).decode(b);
    } catch {
      caught++; // no longer UTF-8: refused before any signature (core/note.ts noteFromBytes)
      continue;
    }
    let ok = true;
    try {
      openLogCheckpoint(tampered, 'prod', logKey, 'cairn.example');
      verifyWitnessQuorum(tampered, [], [witness], 1);
    } catch (err) {
      ok = false;
      t.ok(err instanceof VerificationError || (err as { code?: string }).code === 'INVALID_ARGUMENT', `byte ${i}: a coded error`);
    }
    if (ok) t.fail(`byte ${i} changed and both checks still pass`);
    else caught++;
  }
  t.equal(caught, bytes.length, `all ${bytes.length} single-byte changes caught`);
});

t.test('OpenSSL catches a changed timestamp and a changed root', async (t) => {
  for (const change of [
    (s: string) => s.replace('eCwfLAYF', 'eCwfLAYG'),
    // The timestamp is inside the base64 blob: 8uigtw AAAABrCUjo -> AAAABrCUjp.
    (s: string) => s.replace('AAAABrCUjo', 'AAAABrCUjp'),
  ]) {
    const dir = await tempDir();
    await cp(EXAMPLE, dir.path, { recursive: true });
    const path = join(dir.path, 'cosignature', 'cosigned-checkpoint.txt');
    const before = await readFile(path, 'utf8');
    const after = change(before);
    t.not(after, before);
    await writeFile(path, after);
    await t.rejects(run('bash', [join(dir.path, 'cosignature', 'verify-with-openssl.sh')]));
    await dir.remove();
  }
});

t.test('a quorum counts valid cosignatures from distinct pinned witnesses', async (t) => {
  const log = SigningKey.generate();
  const [k1, k2, k3] = [SigningKey.generate(), SigningKey.generate(), SigningKey.generate()];
  const w1 = witnessKey('w1.example', k1.publicKeySpki);
  const w2 = witnessKey('w2.example', k2.publicKeySpki);
  const w3 = witnessKey('w3.example', k3.publicKeySpki);
  const cp: Checkpoint = { origin: 'origin.example/prod', size: 5, rootHash: sha256(utf8('r')), extensions: [] };
  const note = signCheckpoint(cp, log.noteSigner('origin.example'));
  const text = parseNote(note).text;
  const now = 1_800_000_000;
  const l1 = cosignLine(text, now, w1, (m) => k1.sign(m));
  const l2 = cosignLine(text, now + 1, w2, (m) => k2.sign(m));

  t.equal(verifyWitnessQuorum(note, [l1, l2], [w1, w2], 2, { now }).witnesses.length, 2);
  // One of two: WITNESS_QUORUM naming the witness that did not cosign.
  t.throws(() => verifyWitnessQuorum(note, [l1], [w1, w2], 2), { code: 'WITNESS_QUORUM', message: /1 valid cosignature.*2 required.*w2\.example/ });
  // The same witness twice is one witness.
  t.throws(() => verifyWitnessQuorum(note, [l1, l1], [w1, w2], 2), { code: 'WITNESS_QUORUM' });
  // A line from a key not pinned is ignored: w3 pinned, w2's line does not count for it.
  t.throws(() => verifyWitnessQuorum(note, [l1, l2], [w1, w3], 2), { code: 'WITNESS_QUORUM', message: /w3\.example/ });
  // A pinned name with another key (a wrong --witness-key file): its line has another key ID, so it is not counted.
  const wrong = witnessKey('w2.example', k3.publicKeySpki);
  t.throws(() => verifyWitnessQuorum(note, [l1, l2], [w1, wrong], 2), { code: 'WITNESS_QUORUM' });
  // A cosignature over another checkpoint, relabelled: it does not count, and the failure says why; it does not veto the valid one.
  const other = parseNote(signCheckpoint({ ...cp, size: 6 }, log.noteSigner('origin.example'))).text;
  const forged = cosignLine(other, now, w2, (m) => k2.sign(m));
  t.throws(() => verifyWitnessQuorum(note, [l1, forged], [w1, w2], 2), { code: 'WITNESS_QUORUM', message: /w2\.example \(its cosignature does not verify\)/ });
  t.equal(verifyWitnessQuorum(note, [l1, forged], [w1, w2], 1).witnesses.length, 1);
  // Dated far in the future.
  const late = cosignLine(text, now + 3600, w1, (m) => k1.sign(m));
  t.throws(() => verifyWitnessQuorum(note, [late], [w1], 1, { now }), { code: 'COSIGNATURE_INVALID', message: /future/ });
  // A cosignature is not a log signature: its key ID differs from the same key's type-0x02 ID.
  t.not(cosignatureKeyId('w1.example', k1.publicKeySpki), k1.keyId);
  // Malformed lines are refused by name.
  t.throws(() => parseCosignatureLines(['not a line']), { code: 'COSIGNATURE_INVALID', message: /line 1/ });
  t.throws(() => verifyWitnessQuorum(note, [], [w1], 2), /2 cosignatures asked of 1/);
  t.equal(cosignedNote(note, [l1]), `${note}${l1}\n`);
});

// RFC 6962 section 2.1, straight from the definitions, over leaf hashes.
function mth(l: Uint8Array[]): Uint8Array {
  if (l.length === 0) return EMPTY_ROOT;
  if (l.length === 1) return l[0]!;
  let k = 1;
  while (k * 2 < l.length) k *= 2;
  return nodeHash(mth(l.slice(0, k)), mth(l.slice(k)));
}
function subproof(m: number, l: Uint8Array[], b: boolean): Uint8Array[] {
  if (m === l.length) return b ? [] : [mth(l)];
  let k = 1;
  while (k * 2 < l.length) k *= 2;
  if (m <= k) return [...subproof(m, l.slice(0, k), b), mth(l.slice(k))];
  return [...subproof(m - k, l.slice(k), false), mth(l.slice(0, k))];
}
const leaves = (tag: string, n: number): Uint8Array[] => Array.from({ length: n }, (_, i) => leafHash(utf8(`${tag}${i}`)));

t.test('split views: forks and inconsistent histories are conclusive, growth and bad proofs are not', async (t) => {
  const key = SigningKey.generate();
  const signer = key.noteSigner('origin.example');
  const seen = (l: Uint8Array[]): SeenCheckpoint => {
    const checkpoint: Checkpoint = { origin: 'origin.example/prod', size: l.length, rootHash: mth(l), extensions: [] };
    return { note: signCheckpoint(checkpoint, signer), checkpoint };
  };
  const a = leaves('a', 9);
  const b = [...a.slice(0, 3), ...leaves('b', 6)]; // shares 3 entries, then differs
  const keys = [key.publicKeySpki];

  // Same size, different roots: a fork, whatever the proof.
  const fork = detectSplitView(seen(a.slice(0, 5)), seen(b.slice(0, 5)));
  t.equal(fork?.kind, 'fork');
  checkSplitViewEvidence(fork!, keys, 'origin.example');
  t.equal(detectSplitView(seen(a.slice(0, 5)), seen(a.slice(0, 5))), undefined, 'the same checkpoint twice agrees');

  // Different sizes: history a at 5, history b at 9, with b's honest proof from 5 to 9.
  const small = seen(a.slice(0, 5));
  const large = seen(b);
  t.equal(detectSplitView(small, large), undefined, 'without a proof nothing is concluded');
  const ev = detectSplitView(small, large, { hashes: subproof(5, b, true) });
  t.equal(ev?.kind, 'inconsistent');
  t.equal(ev?.committedRoot, toHex(mth(b.slice(0, 5))));
  checkSplitViewEvidence(ev!, keys, 'origin.example');

  // A log that only grew: its proof shows consistency, no split view.
  t.equal(detectSplitView(seen(a.slice(0, 5)), seen(a), { hashes: subproof(5, a, true) }), undefined);
  // A garbage proof reproduces nothing: not evidence against the origin.
  t.equal(detectSplitView(small, large, { hashes: subproof(5, b, true).map((h) => sha256(h)) }), undefined);

  // A power-of-two size: the proof leaves its root out; the root the larger tree claims there must come with it.
  const small4 = seen(a.slice(0, 4));
  const proof4 = subproof(4, b, true);
  t.equal(detectSplitView(small4, large, { hashes: proof4 }), undefined, 'seeded with the smaller root, the proof only looks bad');
  const ev4 = detectSplitView(small4, large, { hashes: proof4, firstHash: mth(b.slice(0, 4)) });
  t.equal(ev4?.kind, 'inconsistent');
  checkSplitViewEvidence(ev4!, keys, 'origin.example');
  t.equal(committedRootAt(4, 9, proof4, large.checkpoint.rootHash, mth(a.slice(0, 4))), undefined, 'a claimed root the proof does not bind is refused');

  // Evidence edited after the fact no longer holds.
  t.throws(() => checkSplitViewEvidence({ ...ev!, second: ev!.first }, keys, 'origin.example'), { code: 'SPLIT_VIEW' });
  // Evidence signed by another key does not open under the origin's.
  t.throws(() => checkSplitViewEvidence(fork!, [SigningKey.generate().publicKeySpki], 'origin.example'), { code: 'NOTE_UNSIGNED' });

  // Rollback: a smaller tree presented after a larger one was cosigned.
  const rb = rollbackEvidence(seen(a), seen(a.slice(0, 6)));
  t.equal(rb?.kind, 'rollback');
  checkSplitViewEvidence(rb!, keys, 'origin.example');
  t.equal(rollbackEvidence(seen(a.slice(0, 6)), seen(a)), undefined, 'growth is not a rollback');
});
