/**
 * No token secret reaches the node's output. grpc-js logs through a logger of
 * its own; a header it refuses (a tab after `Bearer`, a trailing non-breaking
 * space, a non-ASCII character) used to be printed whole on stderr, secret
 * included. A real `cairn serve` process, with debug logs and every grpc-js
 * tracer on (the most it can print), is sent every malformed-header case over
 * real HTTP/2; its stdout and stderr must hold no secret and nothing but the
 * node's JSON log lines.
 */
import t from 'tap';
import http2 from 'node:http2';
import { connect } from 'node:net';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI, SERVE_NODE_FLAGS, tempDir } from './helpers/node.js';
import { rawGrpcCall } from './helpers/raw-h2.js';
import { createToken } from '../src/auth/tokens.js';
import { ledgerServiceDefinition, LEDGER_SERVICE } from '../src/api/proto.js';
import { redactCredentials } from '../src/server/grpc-log.js';

t.test('redactCredentials removes authorization values, bearer tokens and <name>.<secret> shapes', async (t) => {
  const tok = createToken('ci-bot');
  const secret = tok.token.split('.')[1]!;
  const texts = [
    `Failed to add metadata entry authorization: Bearer\t${tok.token}. Metadata string value "Bearer\t${tok.token}" contains illegal characters`,
    `Failed to add metadata entry authorization: Bearer ${tok.token}\u00a0. illegal`,
    `metadata {"authorization":["Bearer ${tok.token}"],"user-agent":["x"]}`,
    `the token ${tok.token} was used`,
    `BEARER ${secret}`,
  ];
  const leaked = texts.map(redactCredentials).filter((s) => s.includes(secret));
  t.same(leaked, [], 'no secret survives');
  t.match(redactCredentials(texts[3]!), /ci-bot\./, 'a token\'s name is kept: it is what the policy names');
  t.equal(redactCredentials('Received call to /cairn.ledger.v1.Ledger/ListLogs'), 'Received call to /cairn.ledger.v1.Ledger/ListLogs', 'text without credentials is unchanged');
});

t.test('a real node prints no token secret for any malformed authorization header', async (t) => {
  const dir = await tempDir('cairn-redact-');
  t.teardown(() => dir.remove());
  const bot = createToken('bot-a');
  const policyFile = join(dir.path, 'policy.yaml');
  const tokensFile = join(dir.path, 'tokens');
  await writeFile(policyFile, "tenants:\n  a: ['append:a-*', 'read:a-*']\nidentities:\n  - { match: 'token:bot-a', tenant: a }\n");
  await writeFile(tokensFile, `${bot.line}\n`);
  const child = spawn(
    process.execPath,
    [...SERVE_NODE_FLAGS, CLI, 'serve', '--data-dir', join(dir.path, 'data'), '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--metrics-listen', '', '--anchor-backend', 'off',
      '--policy-file', policyFile, '--tokens-file', tokensFile, '--log-level', 'debug'],
    { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, GRPC_TRACE: 'all', GRPC_VERBOSITY: 'DEBUG' } },
  );
  child.channel?.unref();
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not start: ${out}`)), 20_000);
    const look = (): void => {
      const m = /serving gRPC on (\S+?)[,\s]/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', look);
  });
  const port = Number(address.split(':').pop());
  const httpPort = Number(/the HTTP API on \S+?:(\d+)/.exec(out)?.[1]);
  const listLogs = ledgerServiceDefinition().ListLogs!.requestSerialize({}) as Buffer;
  const grpcFrame = Buffer.concat([Buffer.from([0, 0, 0, 0, listLogs.length]), listLogs]);
  const token = bot.token;
  const secret = token.slice(token.indexOf('.') + 1);
  const values = [
    `Bearer\t${token}`,
    `Bearer ${token}\u00a0`,
    `Bearer ${token.slice(0, 8)}\u00e9${token.slice(9)}`,
    `Bearer\u00a0${token}`,
    `Bearer ${token}\t`,
    `\tBearer ${token}`,
    `Bearer ${token}`,
    `${token}`,
  ];
  // Through node:http2, which sends these values as they are.
  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.teardown(() => session.close());
  const statuses: string[] = [];
  for (const v of values) {
    const req = session.request({ ':method': 'POST', ':path': `/${LEDGER_SERVICE}/ListLogs`, 'content-type': 'application/grpc', te: 'trailers', authorization: v });
    let status = '';
    req.on('response', (h) => (status = String(h['grpc-status'] ?? status)));
    req.on('trailers', (h) => (status = String(h['grpc-status'] ?? status)));
    req.resume();
    req.end(grpcFrame);
    await new Promise<void>((resolve) => req.on('close', () => resolve()));
    statuses.push(status);
  }
  // Two authorization fields, which node:http2 will not send: raw frames.
  const twice = await rawGrpcCall({ host: '127.0.0.1', port, path: `/${LEDGER_SERVICE}/ListLogs`, headers: [['authorization', `Bearer ${token}`], ['authorization', `Bearer\t${token}`]], message: listLogs });
  t.equal(twice.ended, 'stream-end', 'the call with two authorization fields got an answer');
  t.same(statuses, ['16', '16', '16', '16', '16', '16', '0', '16'], 'each malformed header is UNAUTHENTICATED (16); the well-formed one is OK');

  // The HTTP API, over raw HTTP/1.1 (node's own client refuses these values): each
  // malformed value, and two Authorization fields, is 401; the well-formed one 200.
  // A tab before or after the whole value is optional whitespace that HTTP/1.1
  // strips from every field value (RFC 9110 section 5.5), so those two are the
  // well-formed value; in HTTP/2 (gRPC above) such a value is malformed.
  const httpStatuses: number[] = [];
  for (const headers of [...values.map((v) => [v]), [`Bearer ${token}`, `Bearer\t${token}`]]) {
    httpStatuses.push(await rawHttpGet(httpPort, '/v1/logs', headers));
  }
  t.same(httpStatuses, [401, 401, 401, 401, 200, 200, 200, 401, 401], 'HTTP: each malformed or doubled Authorization is 401; the well-formed one is 200');

  // Give the node a moment to flush what it prints about these calls, then stop it.
  await new Promise((r) => setTimeout(r, 300));
  child.kill('SIGTERM');
  await exited;
  t.notOk(out.includes(secret), 'the secret appears nowhere in stdout or stderr');
  t.notOk(/Bearer[\t\u00a0 ]+bot-a\./.test(out), 'no bearer value is printed');
  const notJson = out.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('cairn: ')).filter((l) => {
    try {
      return typeof JSON.parse(l) !== 'object';
    } catch {
      return true;
    }
  });
  t.same(notJson.slice(0, 5), [], 'every line is one of the node\'s JSON log lines (grpc-js goes through the node\'s logger)');
  t.ok(out.includes('"component":"grpc-js"'), 'grpc-js output was routed through the node\'s logger');
});

/** A GET with the given Authorization field values written byte for byte; resolves to the status code. */
function rawHttpGet(port: number, path: string, authorization: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer')));
    socket.on('data', (d: Buffer) => {
      reply += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(reply);
      if (m) {
        resolve(Number(m[1]));
        socket.destroy();
      }
    });
    socket.on('error', reject);
    const fields = authorization.map((v) => `Authorization: ${v}\r\n`).join('');
    socket.write(Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${fields}Connection: close\r\n\r\n`, 'utf8'));
  });
}
