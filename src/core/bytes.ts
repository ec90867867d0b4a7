/**
 * Byte helpers shared by the pure core. No Node-only imports (no Buffer), so
 * formats and verification run unchanged in a browser.
 */
import { invalidArgument } from './errors.js';

const HEX = '0123456789abcdef';
const HEX_VALUES: Int8Array = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < 16; i++) {
    t[HEX.charCodeAt(i)] = i;
    t[HEX.toUpperCase().charCodeAt(i)] = i;
  }
  return t;
})();

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    s += HEX[b >> 4]! + HEX[b & 15]!;
  }
  return s;
}

/** Strict hex decoding: even length, [0-9a-fA-F] only. `field` names the input in errors. */
export function fromHex(hex: string, field = 'hex'): Uint8Array {
  if (hex.length % 2 !== 0) throw invalidArgument(field, 'hex string has odd length');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hex.charCodeAt(2 * i);
    const lo = hex.charCodeAt(2 * i + 1);
    const h = hi < 128 ? HEX_VALUES[hi]! : -1;
    const l = lo < 128 ? HEX_VALUES[lo]! : -1;
    if (h < 0 || l < 0) throw invalidArgument(field, `invalid hex character at offset ${h < 0 ? 2 * i : 2 * i + 1}`);
    out[i] = (h << 4) | l;
  }
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_VALUES: Int8Array = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < 64; i++) t[B64.charCodeAt(i)] = i;
  return t;
})();

/** Standard base64 with padding (RFC 4648 section 4), as C2SP notes use. */
export function toBase64(bytes: Uint8Array): string {
  let s = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    s += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    s += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! + '==';
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    s += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + '=';
  }
  return s;
}

/** base64url without padding (RFC 4648 section 5): tokens and their salts. */
export function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/=+$/, '').replaceAll('+', '-').replaceAll('/', '_');
}

/** Strict base64url without padding: one accepted spelling per byte string. */
export function fromBase64Url(s: string, field = 'base64url'): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) throw invalidArgument(field, 'is not unpadded base64url');
  const std = s.replaceAll('-', '+').replaceAll('_', '/');
  return fromBase64(std + '='.repeat((4 - (std.length % 4)) % 4), field);
}

/**
 * Strict base64 decoding: padding required, no whitespace, and non-zero
 * trailing bits rejected, so every byte string has exactly one accepted
 * encoding (a signed note must not have two spellings of one signature).
 */
export function fromBase64(s: string, field = 'base64'): Uint8Array {
  // Native decoding where the runtime has it (Node's Buffer, found without
  // importing node:buffer so this module stays portable), kept exactly as
  // strict: only an input that re-encodes to itself is accepted. The JS
  // decoder below was 6.8% of an offline verification (docs/design.md).
  const B = (globalThis as { Buffer?: { from(s: string, enc: 'base64'): Uint8Array & { toString(enc: 'base64'): string } } }).Buffer;
  if (B) {
    const b = B.from(s, 'base64');
    // A plain Uint8Array view: Buffer's own semantics (slice shares memory) must not leak out.
    if (b.toString('base64') === s) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  if (s.length % 4 !== 0) throw invalidArgument(field, 'base64 length is not a multiple of 4');
  let pad = 0;
  if (s.endsWith('==')) pad = 2;
  else if (s.endsWith('=')) pad = 1;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const last = i + 4 === s.length;
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const c = s.charCodeAt(i + j);
      let v: number;
      if (last && c === 61 /* = */ && j >= 4 - pad) v = 0;
      else {
        v = c < 128 ? B64_VALUES[c]! : -1;
        if (v < 0) throw invalidArgument(field, `invalid base64 character at offset ${i + j}`);
      }
      n = (n << 6) | v;
    }
    if (last && pad === 2 && (n & 0xffff) !== 0) throw invalidArgument(field, 'non-canonical base64 (trailing bits)');
    if (last && pad === 1 && (n & 0xff) !== 0) throw invalidArgument(field, 'non-canonical base64 (trailing bits)');
    out[o++] = (n >> 16) & 255;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF: dropping it would give two byte strings one text.
const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Decodes UTF-8, rejecting invalid sequences instead of substituting U+FFFD. */
export function fromUtf8(b: Uint8Array, field = 'utf8'): string {
  try {
    return strictDecoder.decode(b);
  } catch (cause) {
    throw invalidArgument(field, 'not valid UTF-8');
  }
}
