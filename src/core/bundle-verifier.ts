/**
 * Verifies an export bundle (core/bundle.ts) with no server and an injected
 * asynchronous P-256 primitive: the same checks, in the same order and with
 * the same errors, as `cairn verify-bundle` without an external ledger
 * (src/client/verify-log.ts, verifyBundleFile). The browser console runs it
 * on a dropped file; the primitive is WebCrypto or @noble.
 *
 * Pure module: no Node-only imports.
 */
import { LogVerifier } from './log-verifier.js';
import { followKeyChain, parseKeyLinks } from './key-chain.js';
import { MAX_BUNDLE_LINE, parseBundleEntry, parseBundleHeader, type BundleHeader } from './bundle.js';
import { isVerificationError, VerificationError } from './errors.js';
import { toHex } from './bytes.js';
import type { SignedEntry } from './entry.js';
import type { Checkpoint } from './checkpoint.js';
import { checkFinalKey, compareWithAnchors, openBundleAnchor } from './log-checks.js';
import { verifyEntriesAsync, type AsyncVerifyOptions, type VerifyP256Async } from './async-verifier.js';

export interface BundleVerifyResult {
  log: string;
  size: number;
  rootHash: string;
  entriesVerified: number;
  anchorsVerified?: number;
  anchoredSize?: number;
}

export interface BundleVerifyOptions extends AsyncVerifyOptions {
  /** The pinned key: the node's first key (SPKI DER). */
  publicKeySpki: Uint8Array;
  verify: VerifyP256Async;
  nodeName?: string;
  /** Called once the header is read, with the entries it announces. */
  onHeader?: (header: BundleHeader) => void;
  /** Called with the bundle's checkpoint once the rebuilt tree matched it. */
  onCheckpoint?: (note: string, checkpoint: Checkpoint) => void;
}

/** The lines of a bundle's text, one at a time (no copy of the whole file as an array). */
export function* bundleLines(text: string): Generator<string> {
  let at = 0;
  while (at < text.length) {
    let nl = text.indexOf('\n', at);
    if (nl < 0) nl = text.length;
    yield text.slice(at, nl > at && text[nl - 1] === '\r' ? nl - 1 : nl);
    at = nl + 1;
  }
}

function tooLong(line: number): VerificationError {
  return new VerificationError('BUNDLE_MALFORMED', `bundle line ${line}: longer than ${MAX_BUNDLE_LINE} characters`, { line });
}

/**
 * @throws VerificationError for the first failed check, naming the seq where it has one
 */
export async function verifyBundleLines(lines: Iterable<string>, opts: BundleVerifyOptions): Promise<BundleVerifyResult> {
  const it = lines[Symbol.iterator]();
  const first = it.next();
  if (first.done) throw new VerificationError('BUNDLE_MALFORMED', 'bundle is empty', {});
  if (first.value.length > MAX_BUNDLE_LINE) throw tooLong(1);
  const header = parseBundleHeader(first.value);
  opts.onHeader?.(header);
  const chain = header.keyChain === undefined ? [] : parseKeyLinks(header.keyChain, { line: 1 });
  const keys = followKeyChain(opts.publicKeySpki, chain, { log: header.log });
  const anchored = (header.anchors ?? []).map((a) => openBundleAnchor(header.log, a, keys, opts.nodeName)).sort((a, b) => a.window - b.window);
  const verifier = new LogVerifier(header.log, opts.publicKeySpki, { nodeName: opts.nodeName, captureRootsAt: anchored.map((a) => a.size), deferSignatures: true });
  function* entries(): Generator<SignedEntry> {
    let lineNo = 1;
    for (let r = it.next(); !r.done; r = it.next()) {
      lineNo++;
      const line = r.value;
      if (line.length > MAX_BUNDLE_LINE) throw tooLong(lineNo);
      if (line === '') continue;
      try {
        yield parseBundleEntry(header.log, line, lineNo);
      } catch (err) {
        // The entry this line should hold is the next one in order: name its seq, as verifyBundleFile does.
        if (!isVerificationError(err) || err.evidence.seq !== undefined) throw err;
        throw new VerificationError(err.code, `entry ${verifier.size}: ${err.message}`, { ...err.evidence, log: header.log, seq: verifier.size }, { cause: err.cause });
      }
    }
  }
  await verifyEntriesAsync(verifier, entries(), opts.verify, opts);
  // Anchors first, as verifyBundleFile: a rewrite re-signed with the node's key passes the checkpoint check.
  compareWithAnchors(header.log, verifier, anchored, verifier.size);
  const cp = verifier.finish(header.checkpoint);
  opts.onCheckpoint?.(header.checkpoint, cp);
  // Only a bundle that states its node's chain can say where the log must end.
  if (header.keyChain !== undefined) checkFinalKey(header.log, verifier, keys);
  return {
    log: header.log,
    size: cp.size,
    rootHash: toHex(cp.rootHash),
    entriesVerified: verifier.size,
    ...(header.anchors !== undefined ? { anchorsVerified: anchored.length, anchoredSize: anchored.at(-1)?.size ?? 0 } : {}),
  };
}
