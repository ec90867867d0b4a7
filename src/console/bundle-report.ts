/**
 * The audit report's facts for a bundle the console verified, rendered in
 * the browser by the same pure renderer `cairn report` uses (src/report/), from
 * the same facts gathered the same way (src/cli/report-command.ts, its
 * `fromBundle`): for the same bundle, key and options, the same bytes.
 */
import { sha256 } from '#crypto';
import { toHex } from '../core/bytes.js';
import { followKeyChain, parseKeyLinks, type KeyLink } from '../core/key-chain.js';
import { GENERATOR, reportFailure, reportKey, reportName } from './report-facts.js';
import { openLogCheckpointWithKeys } from '../core/log-verifier.js';
import { parseBundleHeader, type BundleHeader } from '../core/bundle.js';
import { bundleLines, verifyBundleLines } from '../core/bundle-verifier.js';
import { isVerificationError } from '../core/errors.js';
import type { VerifyP256Async } from '../core/async-verifier.js';
import { ReportSummarizer } from '../report/summarize.js';
import type { ReportAnchorWindow, ReportCheckpoint, ReportData, ReportVerification } from '../report/report-data.js';
import { failure, type Progress, type VerifyOutcome } from './verify-core.js';

/** SHA-256 of the file, natively where the page has WebCrypto (a bundle is tens of megabytes). */
async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  return toHex(subtle ? new Uint8Array(await subtle.digest('SHA-256', bytes as BufferSource)) : sha256(bytes));
}

function headerOf(text: string): BundleHeader | undefined {
  const first = bundleLines(text).next();
  try {
    return first.done ? undefined : parseBundleHeader(first.value);
  } catch {
    return undefined; // the verifier reads it again and reports what is wrong with it
  }
}

/** Verifies the bundle's bytes and renders its report; the outcome is what `cairn verify-bundle` gives. */
export async function verifyAndReport(bytes: Uint8Array, pinned: Uint8Array, verify: VerifyP256Async, progress: Progress): Promise<{ outcome: VerifyOutcome; report?: { data: ReportData; name: string } }> {
  const text = new TextDecoder().decode(bytes);
  const header = headerOf(text);
  let chain: KeyLink[] = [];
  try {
    chain = header?.keyChain === undefined ? [] : parseKeyLinks(header.keyChain);
  } catch {
    // The verifier reports a malformed chain.
  }
  const summarizer = new ReportSummarizer({});
  let checkpoint: ReportCheckpoint | undefined;
  let total = 0;
  let outcome: VerifyOutcome;
  let verification: ReportVerification;
  try {
    const r = await verifyBundleLines(bundleLines(text), {
      publicKeySpki: pinned,
      verify,
      onHeader: (h) => (total = h.size),
      onProgress: (n) => progress(n, total),
      onEntry: (body) => summarizer.add(body),
      onCheckpoint: (note, cp) => (checkpoint = { origin: cp.origin, size: cp.size, rootHash: toHex(cp.rootHash), note }),
    });
    outcome = { ok: true, ...r };
    verification = { ok: true, entriesVerified: r.entriesVerified };
  } catch (err) {
    outcome = failure(err);
    if (!isVerificationError(err)) return { outcome };
    verification = reportFailure(err);
  }
  const windows: ReportAnchorWindow[] = [];
  if (verification.ok && header) {
    const keys = followKeyChain(pinned, chain);
    for (const a of header.anchors ?? []) {
      const size = openLogCheckpointWithKeys(a.checkpoint, header.log, keys).checkpoint.size;
      windows.push({ window: a.window, size, root: a.root, backend: a.backend, txId: a.txId, block: a.block });
    }
  }
  const log = header?.log ?? '(unreadable bundle)';
  const data: ReportData = {
    log,
    source: { kind: 'bundle', sha256: await sha256Hex(bytes) },
    verification,
    key: reportKey(pinned, chain),
    ...(checkpoint ? { checkpoint } : {}),
    anchors: { status: 'checked', readFrom: 'the bundle\'s anchor proofs (with --fabric-config, also compared with the channel)', windows },
    ...(verification.ok ? { summary: summarizer.finish() } : {}),
    generator: GENERATOR,
  };
  return { outcome, report: { data, name: reportName(log) } };
}
