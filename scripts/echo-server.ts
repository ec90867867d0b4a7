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
 */
import * as grpc from '@grpc/grpc-js';
import { createServer } from 'node:http2';

const resBytes = Number(process.argv[2] ?? 100);

function serveGrpc(): void {
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
    Unary: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, res),
    Stream: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', () => call.write(res));
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
else serveGrpc();
