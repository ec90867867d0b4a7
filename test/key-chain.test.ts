/**
 * Key links and the chain of keys (core/key-chain.ts), and how the pure log
 * verifier follows rotation entries: the "Key rotation" rules of docs/format.md, one
 * test per failure mode asserting its code and seq.
 */
import t, { type Test } from 'tap';
import { canonicalize } from 'json-canonicalize';
import {
  createKeyLink,
  encodeKeyLinkStatement,
  followKeyChain,
  keyLinkToJson,
  KEY_ROTATION_ACTION,
  MAX_KEY_LINKS,
  parseKeyLink,
  parseRotationPayload,
  verifyKeyLink,
  type KeyLink,
  type KeyLinkJson,
} from '../src/core/key-chain.js';
import { LogVerifier } from '../src/core/log-verifier.js';
import { verifyReceipt } from '../src/core/receipt.js';
import { signCheckpoint } from '../src/core/checkpoint.js';
import { CompactRange, inclusionProofPlan, leafHash } from '../src/core/merkle.js';
import { ZERO_HASH, type SignedEntry } from '../src/core/entry.js';
import { validateAppend } from '../src/core/append-request.js';
import { fromBase64, fromUtf8, toBase64 } from '../src/core/bytes.js';
import { isCairnError, isVerificationError, type VerificationCode } from '../src/core/errors.js';
import { SigningKey } from '../src/keys/signing-key.js';
import { signChain, type EntryFields } from '../src/ledger/chain-signer.js';
import { rotationEntryFields } from '../src/ledger/key-rotation.js';

// docs/example/pub.pem and a second fixed key: the statement bytes below are exact.
const PREV_B64 = 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEiY2L62QjtfaRjcA0zmqTTgyPD1fZDlRjOENJ8jUQ6z3iTOu7CjR+3iZtCVTCPUFPtCNgfNMQQUUT6oE/TIEUHQ==';
const NEXT_B64 = 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEA/T67khIBofYDnRKkrXWeglTlKFGChHAcIbB8MhXyggLrclgvTmwIKqMs8LHYVtmhN5OcS1Gg8RpmL01Z5fPLw==';

function expectCode(t: Test, fn: () => unknown, code: VerificationCode, seq?: number, message?: RegExp): void {
  try {
    fn();
    t.fail(`expected ${code}`);
  } catch (e) {
    if (!isVerificationError(e)) throw e;
    t.equal(e.code, code, `code ${code}: ${e.message}`);
    if (seq !== undefined) t.equal(e.evidence.seq, seq, `names seq ${seq}`);
    if (message) t.match(e.message, message);
  }
}

const A = SigningKey.generate();
const B = SigningKey.generate();
const C = SigningKey.generate();
const X = SigningKey.generate();
const link = (from: SigningKey, to: SigningKey, node = 'cairn.example'): KeyLink =>
  createKeyLink({ prev: from.publicKeySpki, next: to.publicKeySpki, node, time: '2026-01-02T03:04:05.678Z' }, (m) => from.sign(m));

t.test('the signed statement is RFC 8785 canonical JSON of next, node, prev, time, type (known answer)', async (t) => {
  const bytes = encodeKeyLinkStatement({ prev: fromBase64(PREV_B64), next: fromBase64(NEXT_B64), node: 'cairn.example', time: '2026-01-02T03:04:05.678Z' });
  t.equal(
    fromUtf8(bytes),
    `{"next":"${NEXT_B64}","node":"cairn.example","prev":"${PREV_B64}","time":"2026-01-02T03:04:05.678Z","type":"cairn.key-rotation/v1"}`,
  );
});

t.test('a link made by the old key verifies from it, and its JSON round-trips exactly', async (t) => {
  const l = link(A, B);
  verifyKeyLink(l, A.publicKeySpki);
  const json = keyLinkToJson(l);
  t.same(Object.keys(json).sort(), ['signature', 'statement']);
  t.equal(canonicalize(keyLinkToJson(parseKeyLink(JSON.parse(JSON.stringify(json))))), canonicalize(json));
  t.same(followKeyChain(A.publicKeySpki, [l, link(B, C)]).map(toBase64), [A, B, C].map((k) => toBase64(k.publicKeySpki)), 'the chain lists every key, pinned first');
  t.same(followKeyChain(A.publicKeySpki, []).map(toBase64), [toBase64(A.publicKeySpki)], 'no links: only the pinned key');
});

t.test('any single-byte change to a link is detected', async (t) => {
  const text = JSON.stringify(keyLinkToJson(link(A, B)));
  let detected = 0;
  for (let i = 0; i < text.length; i++) {
    for (const delta of [1, 2]) {
      const changed = text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ delta) + text.slice(i + 1);
      try {
        followKeyChain(A.publicKeySpki, [parseKeyLink(JSON.parse(changed))]);
        t.fail(`byte ${i} ^ ${delta} went unnoticed: ${changed}`);
      } catch (e) {
        if (!(e instanceof SyntaxError) && !isVerificationError(e)) throw e;
        detected++;
      }
    }
  }
  t.equal(detected, 2 * text.length, `all ${2 * text.length} changes detected`);
});

t.test('when a link does not start at the key in force: KEY_CHAIN_BROKEN', async (t) => {
  expectCode(t, () => followKeyChain(A.publicKeySpki, [link(B, C)]), 'KEY_CHAIN_BROKEN');
  expectCode(t, () => followKeyChain(A.publicKeySpki, [link(A, B), link(A, C)]), 'KEY_CHAIN_BROKEN');
});

t.test('when a link is signed by another key than its prev: SIGNATURE_INVALID', async (t) => {
  const st = { prev: A.publicKeySpki, next: X.publicKeySpki, node: 'cairn.example', time: '2026-01-02T03:04:05Z' };
  const forged: KeyLink = { statement: st, signature: X.sign(encodeKeyLinkStatement(st)) };
  expectCode(t, () => verifyKeyLink(forged, A.publicKeySpki), 'SIGNATURE_INVALID', undefined, /not signed by key/);
  t.throws(() => createKeyLink(st, (m) => X.sign(m)), 'createKeyLink refuses a wrong signer');
});

t.test('when a link has a high-S signature: SIGNATURE_INVALID (one signature per statement)', async (t) => {
  const l = link(A, B);
  // Flip s to n - s in the DER signature: still valid ECDSA, but high-S.
  const { derToP1363, p1363ToDer } = await import('../src/core/ecdsa-der.js');
  const raw = derToP1363(l.signature);
  const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
  const s = BigInt('0x' + Buffer.from(raw.subarray(32)).toString('hex'));
  const high = Uint8Array.from(Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex'));
  const flipped = new Uint8Array(64);
  flipped.set(raw.subarray(0, 32));
  flipped.set(high, 32);
  expectCode(t, () => verifyKeyLink({ ...l, signature: p1363ToDer(flipped) }, A.publicKeySpki), 'SIGNATURE_INVALID');
});

t.test('when a chain comes back to a retired key: KEY_CHAIN_BROKEN', async (t) => {
  expectCode(t, () => followKeyChain(A.publicKeySpki, [link(A, B), link(B, A)]), 'KEY_CHAIN_BROKEN', undefined, /retired/);
});

t.test('when a link is malformed: KEY_LINK_MALFORMED, before any signature work', async (t) => {
  const good = keyLinkToJson(link(A, B));
  const variants: [string, unknown][] = [
    ['not an object', 'x'],
    ['an extra key', { ...good, extra: 1 }],
    ['a missing statement key', { ...good, statement: { ...good.statement, time: undefined } }],
    ['another type', { ...good, statement: { ...good.statement, type: 'cairn.key-rotation/v2' } }],
    ['a node name with a space', { ...good, statement: { ...good.statement, node: 'a b' } }],
    ['a time that is not RFC 3339 UTC', { ...good, statement: { ...good.statement, time: '2026-01-02 03:04:05' } }],
    ['a non-P-256 key', { ...good, statement: { ...good.statement, next: toBase64(new Uint8Array(91)) } }],
    // 91 bytes end in one byte plus "==": non-zero low bits in the last data character are a second spelling.
    ['non-canonical base64', { ...good, statement: { ...good.statement, next: good.statement.next.slice(0, -3) + (good.statement.next.at(-3) === 'B' ? 'C' : 'B') + '==' } }],
    ['prev equal to next', { ...good, statement: { ...good.statement, next: good.statement.prev } }],
    ['a signature too long', { ...good, signature: toBase64(new Uint8Array(100)) }],
  ];
  for (const [what, v] of variants) {
    t.comment(what);
    expectCode(t, () => parseKeyLink(v), 'KEY_LINK_MALFORMED');
  }
  expectCode(t, () => parseRotationPayload({ links: [] }), 'KEY_LINK_MALFORMED');
  expectCode(t, () => parseRotationPayload({ links: [good], more: 1 }), 'KEY_LINK_MALFORMED');
  expectCode(t, () => parseRotationPayload({ links: Array.from({ length: MAX_KEY_LINKS + 1 }, () => good) }), 'KEY_LINK_MALFORMED');
});

t.test('clients cannot record cairn.* actions: they are the node\'s own', async (t) => {
  for (const action of ['cairn.key-rotation', 'cairn.anything', 'Cairn.Key-Rotation']) {
    try {
      validateAppend({ log: 'l', configId: 'c', operator: 'o', action });
      t.fail(`accepted ${action}`);
    } catch (e) {
      t.ok(isCairnError(e) && e.code === 'INVALID_ARGUMENT' && e.field === 'action', `${action}: INVALID_ARGUMENT naming action`);
    }
  }
  t.equal(validateAppend({ log: 'l', configId: 'c', operator: 'o', action: 'cairnx.update' }).action, 'cairnx.update', 'only the cairn. prefix is reserved');
});

// ---------------------------------------------------------------- logs with rotation entries

const plain = (i: number): EntryFields => ({ configId: `cfg/${i}`, operator: 'ci', identity: '', action: 'update', source: '', commit: '', payload: { i }, requestId: '' });
const NODE = 'cairn.example';
const LOG = 'prod';

/** A log built entry by entry, each with the key given: what a node (or a forger) writes. */
function buildLog(items: { fields: EntryFields; key: SigningKey }[]): SignedEntry[] {
  const out: SignedEntry[] = [];
  let prev: Uint8Array = ZERO_HASH;
  for (const [seq, it] of items.entries()) {
    const [e] = signChain((m) => it.key.sign(m), LOG, prev, seq, '2026-01-02T03:04:05.678Z', [it.fields]);
    out.push(e!);
    prev = e!.hash;
  }
  return out;
}

function checkpointOf(entries: SignedEntry[], key: SigningKey): string {
  const range = CompactRange.empty();
  for (const e of entries) range.append(leafHash(e.hash));
  return signCheckpoint({ origin: `${NODE}/${LOG}`, size: entries.length, rootHash: range.root(), extensions: [] }, key.noteSigner(NODE));
}

function verifyAll(entries: SignedEntry[], note: string, pinned = A): LogVerifier {
  const v = new LogVerifier(LOG, pinned.publicKeySpki);
  for (const e of entries) v.push(e);
  v.finish(note);
  return v;
}

const rotation = (from: SigningKey, to: SigningKey): EntryFields => rotationEntryFields([link(from, to, NODE)], NODE);

t.test('a rotation entry hands over: signed by the old key, later entries and checkpoints by the new one', async (t) => {
  const entries = buildLog([
    { fields: plain(0), key: A },
    { fields: plain(1), key: A },
    { fields: rotation(A, B), key: A },
    { fields: plain(3), key: B },
    { fields: rotation(B, C), key: B },
    { fields: plain(5), key: C },
  ]);
  const v = verifyAll(entries, checkpointOf(entries, C));
  t.equal(toBase64(v.currentKey), toBase64(C.publicKeySpki), 'the log ends under the chain\'s last key');
  // The checkpoint that first covers the rotation entry is under the new key.
  verifyAll(entries.slice(0, 3), checkpointOf(entries.slice(0, 3), B));
  expectCode(t, () => verifyAll(entries.slice(0, 3), checkpointOf(entries.slice(0, 3), A)), 'NOTE_UNSIGNED');
  expectCode(t, () => verifyAll(entries, checkpointOf(entries, B)), 'NOTE_UNSIGNED');
});

t.test('a log created after rotations opens with its key history, signed by the current key', async (t) => {
  const history = rotationEntryFields([link(A, B, NODE), link(B, C, NODE)], NODE);
  const entries = buildLog([{ fields: history, key: C }, { fields: plain(1), key: C }]);
  verifyAll(entries, checkpointOf(entries, C));
  expectCode(t, () => verifyAll(buildLog([{ fields: history, key: A }]), ''), 'SIGNATURE_INVALID', 0);
  expectCode(t, () => verifyAll(buildLog([{ fields: rotationEntryFields([link(B, C, NODE)], NODE), key: C }]), ''), 'KEY_CHAIN_BROKEN', 0);
});

t.test('when an entry is signed by a key the chain does not lead to: SIGNATURE_INVALID naming its seq', async (t) => {
  const entries = buildLog([{ fields: plain(0), key: A }, { fields: rotation(A, B), key: A }, { fields: plain(2), key: B }, { fields: plain(3), key: X }]);
  expectCode(t, () => verifyAll(entries, ''), 'SIGNATURE_INVALID', 3);
  // The old key after the hand-over is no better than any other.
  expectCode(t, () => verifyAll(buildLog([{ fields: plain(0), key: A }, { fields: rotation(A, B), key: A }, { fields: plain(2), key: A }]), ''), 'SIGNATURE_INVALID', 2);
  // Entries under the new key with the rotation entry missing.
  expectCode(t, () => verifyAll(buildLog([{ fields: plain(0), key: A }, { fields: plain(1), key: B }]), ''), 'SIGNATURE_INVALID', 1);
});

t.test('when a rotation entry\'s link is forged: the seq of the rotation entry', async (t) => {
  const st = { prev: A.publicKeySpki, next: X.publicKeySpki, node: NODE, time: '2026-01-02T03:04:05Z' };
  const forged: KeyLinkJson = keyLinkToJson({ statement: st, signature: X.sign(encodeKeyLinkStatement(st)) });
  const fields: EntryFields = { ...rotation(A, B), payload: { links: [forged] } };
  expectCode(t, () => verifyAll(buildLog([{ fields: plain(0), key: A }, { fields, key: A }, { fields: plain(2), key: X }]), ''), 'SIGNATURE_INVALID', 1, /key link/);
  const twoLinks = rotationEntryFields([link(A, B, NODE), link(B, C, NODE)], NODE);
  expectCode(t, () => verifyAll(buildLog([{ fields: plain(0), key: A }, { fields: twoLinks, key: A }]), ''), 'KEY_LINK_MALFORMED', 1, /1/);
  const bad: EntryFields = { ...rotation(A, B), payload: { links: 'no' } };
  expectCode(t, () => verifyAll(buildLog([{ fields: plain(0), key: A }, { fields: bad, key: A }]), ''), 'KEY_LINK_MALFORMED', 1);
});

t.test('a receipt verifies under the chain from the pinned key; the checkpoint never under a key retired before the entry\'s', async (t) => {
  const entries = buildLog([{ fields: plain(0), key: A }, { fields: rotation(A, B), key: A }, { fields: plain(2), key: B }]);
  const keys = followKeyChain(A.publicKeySpki, [link(A, B)]);
  const proofFor = (seq: number): Uint8Array[] => {
    const nodes = new Map<string, Uint8Array>();
    const range = CompactRange.empty();
    for (const e of entries) for (const n of range.append(leafHash(e.hash))) nodes.set(`${n.id.level}/${n.id.index}`, n.hash);
    const plan = inclusionProofPlan(seq, entries.length);
    return plan.finish(plan.nodes.map((id) => nodes.get(`${id.level}/${id.index}`)!));
  };
  for (const seq of [0, 1, 2]) {
    t.equal(verifyReceipt({ entry: entries[seq]!, checkpointNote: checkpointOf(entries, B), inclusionProof: proofFor(seq) }, keys).size, 3, `entry ${seq}`);
  }
  expectCode(t, () => verifyReceipt({ entry: entries[2]!, checkpointNote: checkpointOf(entries, B), inclusionProof: proofFor(2) }, A.publicKeySpki), 'SIGNATURE_INVALID', 2);
  expectCode(t, () => verifyReceipt({ entry: entries[2]!, checkpointNote: checkpointOf(entries, A), inclusionProof: proofFor(2) }, keys), 'KEY_CHAIN_BROKEN', 2);
});
