/**
 * A log read from the node, verified and reported as `cairn report --log`
 * does (src/cli/report-command.ts, its `fromNode`, with the node's own
 * anchor store as the anchor reader): the whole log checked with its anchor
 * windows where the node anchors, and the report rendered by src/report/
 * from exactly those facts, byte for byte the CLI's.
 */
import { toHex } from '../core/bytes.js';
import { parseKeyLinks } from '../core/key-chain.js';
import { isVerificationError } from '../core/errors.js';
import type { VerifyP256Async } from '../core/async-verifier.js';
import { ReportSummarizer } from '../report/summarize.js';
import type { ReportAnchors, ReportAnchorWindow, ReportCheckpoint, ReportData, ReportVerification } from '../report/report-data.js';
import { ApiError, logPath, type AnchorJson, type NodeApi } from './api.js';
import { checkWholeLog, failure, type Progress, type VerifyOutcome } from './verify-core.js';
import { GENERATOR, reportFailure, reportKey, reportName } from './report-facts.js';

/** What the CLI's report says it read the anchored roots from, with the node's local store as the reader. */
const READ_FROM_NODE = 'the node itself (its anchor store: consistency with past anchors, not independence from the operator; --fabric-config reads a Fabric channel)';

/** Every anchor window of the log, oldest first; undefined when the node anchors nothing (anchor_backend = off). */
async function listAnchors(api: NodeApi, log: string): Promise<AnchorJson[] | undefined> {
  const out: AnchorJson[] = [];
  let from = 0;
  for (;;) {
    let page: { anchors: AnchorJson[] };
    try {
      page = await api.get<{ anchors: AnchorJson[] }>(logPath(log, '/anchors'), { from_window: from, limit: 1000 });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'FAILED_PRECONDITION') return undefined;
      throw err;
    }
    out.push(...page.anchors);
    if (page.anchors.length < 1000) return out;
    from = page.anchors.at(-1)!.window + 1;
  }
}

export async function verifyLogAndReport(api: NodeApi, log: string, pinned: Uint8Array, verify: VerifyP256Async, progress: Progress): Promise<{ outcome: VerifyOutcome; report?: { data: ReportData; name: string } }> {
  let listed: AnchorJson[] | undefined;
  let chain;
  try {
    chain = parseKeyLinks((await api.get<{ keyChain: unknown[] }>('/v1/key-chain')).keyChain, { log });
    // Listed before verifying: every window listed here is among those the verifier checks.
    listed = await listAnchors(api, log);
  } catch (err) {
    return { outcome: failure(err) };
  }
  const summarizer = new ReportSummarizer({});
  let checkpoint: ReportCheckpoint | undefined;
  let outcome: VerifyOutcome;
  let verification: ReportVerification;
  try {
    const r = await checkWholeLog(api, log, pinned, verify, progress, {
      ...(listed ? { anchors: listed } : {}),
      onEntry: (body) => summarizer.add(body),
      onCheckpoint: (note, cp) => (checkpoint = { origin: cp.origin, size: cp.size, rootHash: toHex(cp.rootHash), note }),
    });
    outcome = r;
    verification = { ok: true, entriesVerified: r.entriesVerified };
  } catch (err) {
    outcome = failure(err);
    // Not a verification failure (the node refused, the network failed): nothing to report, as the CLI.
    if (!isVerificationError(err)) return { outcome };
    verification = reportFailure(err);
  }
  const size = checkpoint?.size ?? 0;
  const windows: ReportAnchorWindow[] = [];
  for (const a of listed ?? []) {
    const cp = a.checkpoints.find((x) => x.log === log);
    if (a.state !== 'committed' || !cp || cp.size > size) continue;
    windows.push({ window: a.window, size: cp.size, root: a.root, backend: a.backend, txId: a.txId, block: a.block });
  }
  const anchors: ReportAnchors = listed ? { status: 'checked', readFrom: READ_FROM_NODE, windows } : { status: 'off', readFrom: '', windows: [] };
  const data: ReportData = {
    log,
    source: { kind: 'node' },
    verification,
    key: reportKey(pinned, chain),
    ...(checkpoint ? { checkpoint } : {}),
    anchors,
    ...(verification.ok ? { summary: summarizer.finish() } : {}),
    generator: GENERATOR,
  };
  return { outcome, report: { data, name: reportName(log) } };
}
