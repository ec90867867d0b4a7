/**
 * The http section of `npm run bench`: durable appends through the HTTP JSON
 * API against unary gRPC Append, in one run, on one node, driven by one load
 * client that is not the node's own: h2load (nghttp2-client; `bash
 * scripts/bench-deps.sh` installs it). gRPC is HTTP/2, so h2load sends the
 * Append call as gRPC's wire format (a length-prefixed AppendRequest, POST
 * to /cairn.ledger.v1.Ledger/Append); the HTTP API gets the same change as
 * JSON over HTTP/1.1 (`--h1`). Each client holds one request in flight, so
 * "concurrency" is the number of connections. Every append is counted from
 * the log's size afterwards, not from h2load's status codes (a gRPC failure
 * is an HTTP 200 with a grpc-status trailer).
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { processCpuSeconds } from './bench-lib.js';
import { spawnNode, tempDir } from '../test/helpers/node.js';
import { LedgerClient } from '../src/client/ledger-client.js';

const run = promisify(execFile);

/** Protocol Buffers encoding of a message whose fields are all strings (wire type 2), by field number. */
function encodeStrings(fields: readonly (readonly [number, string])[]): Buffer {
  const parts: Buffer[] = [];
  const varint = (n: number): Buffer => {
    const b: number[] = [];
    while (n > 0x7f) {
      b.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    b.push(n);
    return Buffer.from(b);
  };
  for (const [no, value] of fields) {
    if (value === '') continue;
    const v = Buffer.from(value, 'utf8');
    parts.push(varint((no << 3) | 2), varint(v.length), v);
  }
  return Buffer.concat(parts);
}

/** A gRPC message frame: compressed flag 0, then the length big-endian (gRPC over HTTP/2, "Length-Prefixed-Message"). */
function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

export interface HttpBenchRow {
  path: string;
  concurrency: number;
  rate: number;
  meanMs: number;
  serverCpuUs: number;
}

interface H2loadResult {
  done: number;
  meanMs: number;
}

function parseH2load(out: string): H2loadResult {
  const done = /requests: \d+ total, \d+ started, (\d+) done/.exec(out);
  const mean = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(out);
  if (!done || !mean) throw new Error(`h2load printed no figures:\n${out}`);
  const unit = mean[1]!.endsWith('us') ? 1e-3 : mean[1]!.endsWith('ms') ? 1 : 1000;
  return { done: Number(done[1]), meanMs: parseFloat(mean[1]!) * unit };
}

/**
 * Appends/s over gRPC unary Append and over POST /v1/logs/{log}/entries, each
 * at `concurrency`, `seconds` long after a one-second warm-up.
 */
export async function httpBench(opts: { seconds: number; concurrency: number; payloadJson: string; commit: string }): Promise<{ title: string; header: string[]; rows: (string | number)[][] }> {
  const dir = await tempDir('cairn-bench-http-');
  const node = await spawnNode(dir.path);
  const client = new LedgerClient(node.address);
  try {
    const change = { configId: 'svc/web', operator: 'ci-bench', action: 'update', commit: opts.commit, payloadJson: opts.payloadJson };
    const grpcBody = join(dir.path, 'append.grpc');
    await writeFile(grpcBody, grpcFrame(encodeStrings([[1, 'grpc'], [2, change.configId], [3, change.operator], [4, change.action], [6, change.commit], [7, change.payloadJson]])));
    const jsonBody = join(dir.path, 'append.json');
    await writeFile(jsonBody, JSON.stringify({ config_id: change.configId, operator: change.operator, action: change.action, commit: change.commit, payload_json: change.payloadJson }));
    const size = async (log: string): Promise<number> => (await client.getCheckpoint(log).catch(() => ({ size: 0 }))).size;

    const measure = async (path: string, log: string, args: string[]): Promise<HttpBenchRow> => {
      const before = await size(log);
      const cpu0 = processCpuSeconds(node.child.pid);
      const { stdout } = await run('h2load', [...args, '-c', String(opts.concurrency), '-m', '1', '-t', '1', '-D', String(opts.seconds), '--warm-up-time', '1'], { maxBuffer: 16 * 1024 * 1024 });
      const cpu = processCpuSeconds(node.child.pid) - cpu0;
      const r = parseH2load(stdout);
      const stored = (await size(log)) - before;
      // Warm-up requests are stored but not counted by h2load: stored >= done, and every counted one is stored.
      if (stored < r.done) throw new Error(`${path}: h2load counted ${r.done} requests but only ${stored} entries were stored`);
      return { path, concurrency: opts.concurrency, rate: r.done / opts.seconds, meanMs: r.meanMs, serverCpuUs: (cpu * 1e6) / stored };
    };
    // One warm-up append per path opens the log and starts the signer.
    await client.append({ log: 'grpc', ...change });
    await client.append({ log: 'http', ...change });
    const grpcRun = (): Promise<HttpBenchRow> => measure('gRPC unary Append (HTTP/2, h2load)', 'grpc', ['-H', 'content-type: application/grpc', '-H', 'te: trailers', '-d', grpcBody, `http://${node.address}/cairn.ledger.v1.Ledger/Append`]);
    const httpRun = (): Promise<HttpBenchRow> => measure('HTTP JSON API, POST /v1/logs/{log}/entries (HTTP/1.1, h2load --h1)', 'http', ['--h1', '-H', 'content-type: application/json', '-d', jsonBody, `${node.httpAddress}/v1/logs/http/entries`]);
    // Alternated, twice each, so that a change in the machine's load meanwhile falls on both paths alike.
    const runs: HttpBenchRow[][] = [[], []];
    for (let round = 0; round < 2; round++) {
      runs[0]!.push(await grpcRun());
      runs[1]!.push(await httpRun());
    }
    const mean = (rs: HttpBenchRow[]): HttpBenchRow => ({
      ...rs[0]!,
      rate: rs.reduce((a, r) => a + r.rate, 0) / rs.length,
      meanMs: rs.reduce((a, r) => a + r.meanMs, 0) / rs.length,
      serverCpuUs: rs.reduce((a, r) => a + r.serverCpuUs, 0) / rs.length,
    });
    const grpcRow = mean(runs[0]!);
    const httpRow = mean(runs[1]!);
    const rows: (string | number)[][] = [grpcRow, httpRow].map((r) => [r.path, String(r.concurrency), r.rate, r.meanMs, r.serverCpuUs]);
    rows.push(['ratio HTTP / gRPC (appends/s)', String(opts.concurrency), httpRow.rate / grpcRow.rate, httpRow.meanMs / grpcRow.meanMs, httpRow.serverCpuUs / grpcRow.serverCpuUs]);
    return {
      title: `HTTP JSON API against unary gRPC: durable signed appends, one node (child process), h2load as the client for both, one request in flight per connection, two alternated runs of ${opts.seconds} s each, averaged`,
      header: ['path', 'concurrency', 'appends/s', 'mean ms', 'server CPU us/op'],
      rows,
    };
  } finally {
    client.close();
    await node.stop();
    await dir.remove();
  }
}
