/**
 * Bench helper: a grpc-js server with a trivial unary and bidi echo that
 * answers with a fixed-size response, to measure the transport's own ceiling
 * on this machine next to the ledger's figures. Prints nothing; sends its port
 * to the parent over IPC.
 */
import * as grpc from '@grpc/grpc-js';

const resBytes = Number(process.argv[2] ?? 100);
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
