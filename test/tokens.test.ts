/**
 * Bearer tokens: only salted hashes are stored, a token is accepted exactly
 * when its secret hashes to its line, and a bad tokens file names its line.
 */
import t from 'tap';
import fc from 'fast-check';
import { createToken, parseTokens, hashLine } from '../src/auth/tokens.js';
import { CairnError } from '../src/core/errors.js';

t.test('a created token is accepted by the store built from its line, and its secret is not in the line', async (t) => {
  const a = createToken('ci-a');
  const b = createToken('ci-b');
  const store = parseTokens(`# two tokens\n${a.line}\n\n${b.line}   # trailing comment\n`);
  t.same(store.names, ['ci-a', 'ci-b']);
  t.equal(store.check(a.token), 'ci-a');
  t.equal(store.check(b.token), 'ci-b');
  t.notOk(a.line.includes(a.token.slice('ci-a.'.length)), 'the line holds a hash, not the secret');
  t.not(createToken('ci-a').line, a.line, 'a fresh salt each time');
});

t.test('equal secrets under different salts hash differently', async (t) => {
  t.not(hashLine('same-secret', new Uint8Array(16).fill(1)), hashLine('same-secret', new Uint8Array(16).fill(2)));
});

t.test('any changed character of a token is refused (fast-check, seed 7, 500 runs)', async (t) => {
  const a = createToken('ci-a');
  const store = parseTokens(a.line);
  let refused = 0;
  fc.assert(
    fc.property(fc.nat({ max: a.token.length - 1 }), fc.integer({ min: 0x21, max: 0x7e }), (i, code) => {
      const ch = String.fromCharCode(code);
      if (a.token[i] === ch) return;
      const forged = a.token.slice(0, i) + ch + a.token.slice(i + 1);
      if (store.check(forged) !== undefined) throw new Error(`accepted ${forged}`);
      refused++;
    }),
    { seed: 7, numRuns: 500 },
  );
  t.ok(refused > 400, `${refused} forgeries refused`);
  for (const bad of ['', 'ci-a', 'ci-a.', '.x', `${a.token}x`, `other.${a.token.split('.')[1]}`, 'x'.repeat(300)]) t.equal(store.check(bad), undefined, `refused: ${bad.slice(0, 20)}`);
});

t.test('a bad tokens file is refused naming its line (fast-check over mutated files, seed 11, 1000 runs)', async (t) => {
  const good = `${createToken('a').line}\n${createToken('b').line}\n`;
  t.throws(() => parseTokens(`${good}a sha256:AAAAAAAAAAA:${'A'.repeat(43)}\n`), { code: 'INVALID_ARGUMENT', message: /^tokens line 3: duplicate token a/ });
  t.throws(() => parseTokens('x sha256:short:hash\n'), { message: /^tokens line 1: token x: hash must be/ });
  t.throws(() => parseTokens('x\n'), { message: /^tokens line 1: expected/ });
  t.throws(() => parseTokens('a.b sha256:x:y\n'), { message: /^tokens line 1: token name/ });
  let compiled = 0;
  fc.assert(
    fc.property(fc.nat({ max: good.length }), fc.string({ maxLength: 4 }), fc.nat({ max: 3 }), (at, insert, del) => {
      const text = good.slice(0, at) + insert + good.slice(at + del);
      try {
        parseTokens(text);
        compiled++;
      } catch (e) {
        if (!(e instanceof CairnError) || e.code !== 'INVALID_ARGUMENT') throw e;
        const m = /^tokens line (\d+): /.exec(e.message);
        if (!m || Number(m[1]) < 1 || Number(m[1]) > text.split('\n').length) throw new Error(`no line named: ${e.message}`);
      }
    }),
    { seed: 11, numRuns: 1000 },
  );
  t.ok(compiled > 0, `${compiled} mutated files still compiled, the rest named a line`);
});
