/**
 * `npm run fabric:test-peer`: starts the Fabric Gateway test peer
 * (test/fabric/test-peer.ts) with the real Cairn anchor chaincode, so the
 * node's `fabric` anchor backend can be tried without a Fabric network.
 *
 *   node dist/scripts/fabric-test-peer.js [--listen HOST:PORT] [--out DIR]
 *                                         [--channel NAME] [--chaincode NAME]
 *
 * Writes the TLS CA, a client certificate and its key (PEM, key mode 0600)
 * into DIR (default: a new temporary folder, removed on exit) and prints one line of JSON on
 * stdout: the connection settings in the node config file's form (a
 * `fabric` section with snake_case keys, file paths absolute). Runs until
 * SIGINT or SIGTERM. State is in memory: a restart starts an empty channel
 * with new certificates.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { TestPeer } from '../test/fabric/test-peer.js';

const USAGE = 'usage: fabric-test-peer [--listen HOST:PORT] [--out DIR] [--channel NAME] [--chaincode NAME]';

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        listen: { type: 'string', default: '127.0.0.1:7051' },
        out: { type: 'string' },
        channel: { type: 'string', default: 'mychannel' },
        chaincode: { type: 'string', default: 'cairn-anchor' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (args.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const out = args.out === undefined ? await mkdtemp(join(tmpdir(), 'cairn-fabric-test-peer-')) : resolve(args.out);
  await mkdir(out, { recursive: true });

  const peer = await TestPeer.start({ listen: args.listen, channel: args.channel, chaincode: args.chaincode });
  const settings = peer.settings();
  const files = {
    tls_ca_file: join(out, 'tls-ca.pem'),
    cert_file: join(out, 'client-cert.pem'),
    key_file: join(out, 'client-key.pem'),
  };
  await writeFile(files.tls_ca_file, settings.tlsCaPem);
  await writeFile(files.cert_file, settings.certPem);
  await writeFile(files.key_file, settings.keyPem, { mode: 0o600 });

  const config = {
    fabric: {
      endpoint: settings.endpoint,
      tls_ca_file: files.tls_ca_file,
      tls_server_name: settings.tlsServerName,
      msp_id: settings.mspId,
      cert_file: files.cert_file,
      key_file: files.key_file,
      channel: settings.channel,
      chaincode: settings.chaincode,
      contract: settings.contract,
    },
  };
  process.stdout.write(`${JSON.stringify(config)}\n`);
  process.stderr.write(`fabric test peer: gateway on ${settings.endpoint} (TLS), channel ${settings.channel}, chaincode ${settings.chaincode}; files in ${out}; Ctrl-C stops\n`);

  let closing = false;
  const shutdown = (): void => {
    if (closing) return;
    closing = true;
    // A folder we made is removed with the peer: its certificates die with it.
    const cleanup = args.out === undefined ? rm(out, { recursive: true, force: true }) : Promise.resolve();
    Promise.all([peer.close(), cleanup]).then(() => process.exit(0), (e: unknown) => {
      process.stderr.write(`fabric test peer: ${(e as Error).message}\n`);
      process.exit(1);
    });
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((e: unknown) => {
  process.stderr.write(`fabric test peer: ${(e as Error).message}\n`);
  process.exit(1);
});
