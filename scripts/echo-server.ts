/**
 * Bench helper: a grpc-js server with a trivial unary and bidi echo that
 * answers with a fixed-size response, to measure the transport's own ceiling
 * on this machine next to the ledger's figures. Prints nothing; sends its port
 * to the parent over IPC.
 *
 * With `--bare` it is not grpc-js but a bare `node:http2` responder that
 * answers every unary call with the same gRPC frame and trailers: how fast
 * any gRPC server written on Node's HTTP/2 could go here, with the same
 * grpc-js client.
 *
 * With `--floor DIR` it is the least a durable signed append can cost with
 * this stack: each message is signed with ECDSA P-256 (node:crypto, on a
 * worker thread as the node does), and each group of messages that arrived
 * meanwhile is written to LevelDB in one synced batch before it is answered.
 * No canonical JSON, hash chain, Merkle tree, checkpoint, receipt or
 * validation: what is left of a ledger's cost when all of that is free.
 */
import * as grpc from '@grpc/grpc-js';
import { createServer } from 'node:http2';
import { generateKeyPairSync } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { Level } from 'level';

const resBytes = Number(process.argv[2] ?? 100);

type Handler = (req: Buffer, reply: () => void) => void;

const echo: Handler = (_req, reply) => reply();

/** The floor's worker: signs each message of a group, DER, as the node's signing thread does. */
const SIGNER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createPrivateKey, sign } = require('node:crypto');
const key = createPrivateKey(workerData);
parentPort.on('message', (items) => parentPort.postMessage(items.map((b) => sign('sha256', b, key))));
`;

/** Sign every message on a worker, then one synced LevelDB batch per group; the next group signs while this one syncs. */
async function floorHandler(dir: string): Promise<Handler> {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  const worker = new Worker(SIGNER, { eval: true, workerData: pem });
  process.on('disconnect', () => void worker.terminate());
  let queue: { req: Buffer; reply: () => void }[] = [];
  let signing = false;
  let scheduled = false;
  let seq = 0;
  const pump = (): void => {
    if (signing || queue.length === 0) return;
    const group = queue;
    queue = [];
    signing = true;
    worker.once('message', (sigs: Uint8Array[]) => {
      signing = false;
      setImmediate(pump);
      const batch = db.batch();
      for (let i = 0; i < group.length; i++) {
        const key = Buffer.alloc(8);
        key.writeBigUInt64BE(BigInt(seq++));
        batch.put(key, Buffer.concat([group[i]!.req, sigs[i]!]));
      }
      void batch.write({ sync: true }).then(() => {
        for (const g of group) g.reply();
      });
    });
    worker.postMessage(group.map((g) => g.req));
  };
  return (req, reply) => {
    queue.push({ req, reply });
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      pump();
    });
  };
}

function serveGrpc(handle: Handler): void {
  const res = Buffer.alloc(resBytes, 2);
  const id = (b: Buffer): Buffer => b;
  const def = {
    Unary: { path: '/e.E/Unary', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
    Stream: { path: '/e.E/Stream', requestStream: true, responseStream: true, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
  };
  const server = new grpc.Server();
  const common = (server as unknown as { commonServerOptions?: Record<string, unknown> }).commonServerOptions;
  if (common) common.noDelay = true;
  server.addService(def, {
    Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => handle(call.request, () => cb(null, res)),
    Stream: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      // Replies stay in request order: a handler answers its messages in the order it got them.
      call.on('data', (req: Buffer) => handle(req, () => call.write(res)));
      call.on('end', () => call.end());
    },
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    process.send!(port);
  });
  process.on('disconnect', () => server.forceShutdown());
}

function serveBare(): void {
  // One length-prefixed gRPC message, uncompressed.
  const frame = Buffer.alloc(5 + resBytes, 2);
  frame[0] = 0;
  frame.writeUInt32BE(resBytes, 1);
  const server = createServer();
  server.on('stream', (stream) => {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame);
    });
  });
  server.listen(0, '127.0.0.1', () => process.send!((server.address() as { port: number }).port));
  process.on('disconnect', () => server.close());
}

if (process.argv[3] === '--bare') serveBare();
else if (process.argv[3] === '--floor') serveGrpc(await floorHandler(process.argv[4]!));
else serveGrpc(echo);
