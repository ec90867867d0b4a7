/**
 * The entry body's versions: v2 carries the server-authenticated `identity`;
 * v1 bodies (written before authentication existed) stay valid and read with
 * an empty identity. Any other shape is malformed.
 */
import t from 'tap';
import { canonicalize } from 'json-canonicalize';
import { decodeBody, entryHash, verifyEntry, ZERO_HASH } from '../src/core/entry.js';
import { isVerificationError } from '../src/core/errors.js';
import { toHex, utf8 } from '../src/core/bytes.js';
import { SigningKey } from '../src/keys/signing-key.js';

const key = SigningKey.generate();
const common = {
  log: 'prod',
  seq: 0,
  time: '2026-11-26T09:00:00.000Z',
  configId: 'payments/api',
  operator: 'alice@example.com',
  action: 'update',
  source: '',
  commit: '',
  payload: { replicas: 3 },
  requestId: '',
  prevHash: toHex(ZERO_HASH),
};

function signed(body: Record<string, unknown>): { log: string; seq: number; body: Uint8Array; signature: Uint8Array; hash: Uint8Array } {
  const bytes = utf8(canonicalize(body));
  const signature = key.sign(bytes);
  return { log: 'prod', seq: 0, body: bytes, signature, hash: entryHash(ZERO_HASH, bytes, signature) };
}

const position = { log: 'prod', seq: 0, prevHash: ZERO_HASH };

t.test('a v2 body carries the identity the server wrote', async (t) => {
  const e = signed({ ...common, v: 2, identity: 'token:release-bot' });
  const { body } = verifyEntry(e, position, key.publicKeySpki);
  t.equal(body.identity, 'token:release-bot');
  t.equal(body.operator, 'alice@example.com', 'the client-claimed operator is kept beside it');
});

t.test('a v1 body (no identity key) still verifies and reads with an empty identity', async (t) => {
  const e = signed({ ...common, v: 1 });
  const { body } = verifyEntry(e, position, key.publicKeySpki);
  t.equal(body.v, 1);
  t.equal(body.identity, '');
});

const malformed: [string, Record<string, unknown>][] = [
  ['a v2 body without identity', { ...common, v: 2 }],
  ['a v1 body with an identity key', { ...common, v: 1, identity: '' }],
  ['a v2 body whose identity is not a string', { ...common, v: 2, identity: 7 }],
  ['an unknown version', { ...common, v: 3, identity: '' }],
  ['a v2 body with an extra key', { ...common, v: 2, identity: '', tenant: 'a' }],
];
for (const [name, body] of malformed) {
  t.test(`${name} is ENTRY_MALFORMED`, async (t) => {
    let caught: unknown;
    try {
      decodeBody(utf8(canonicalize(body)), { log: 'prod', seq: 0 });
    } catch (e) {
      caught = e;
    }
    t.ok(isVerificationError(caught), 'a VerificationError');
    t.equal((caught as { code?: string }).code, 'ENTRY_MALFORMED');
  });
}
