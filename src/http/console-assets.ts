/**
 * The auditor's console (src/console/, docs/console.md) as static files on
 * the HTTP listener, under `/console/`. The files are what `npm run build`
 * bundles into dist/console/; they are public (the page holds no data: it
 * asks the JSON API for everything, with the credential the user gives it),
 * and they are kept out of the OpenAPI document, which lists the API only.
 *
 * Every answer carries a Content-Security-Policy that lets the page load
 * only its own script, worker and style and talk only to this node: no
 * inline script, no other origin, no framing. The console verifies what the
 * node serves; the policy keeps the node's answers (entry payloads are
 * anyone's text) from running as code in the page.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';

export const CONSOLE_PATH = '/console/';

export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The built files, by name, and their media types: nothing else is served. */
const FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'verify-worker.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

/** dist/console/, beside dist/src/ where this module is compiled to. */
export const DEFAULT_CONSOLE_DIR = fileURLToPath(new URL('../../console/', import.meta.url));

function headers(reply: FastifyReply, type: string): FastifyReply {
  return reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cache-control', 'no-cache')
    .type(type);
}

/** Registers `/console` (a redirect), `/console/` (the page) and its assets. */
export function registerConsole(app: FastifyInstance, dir = DEFAULT_CONSOLE_DIR): void {
  const send = async (reply: FastifyReply, name: string): Promise<void> => {
    const type = FILES[name];
    if (type === undefined) {
      await headers(reply.code(404), 'text/plain; charset=utf-8').send(`no file ${name.slice(0, 100)} in the console\n`);
      return;
    }
    let body: Buffer;
    try {
      body = await readFile(join(dir, name));
    } catch {
      await headers(reply.code(404), 'text/plain; charset=utf-8').send('the console is not built: run `npm run build`\n');
      return;
    }
    await headers(reply.code(200), type).send(body);
  };
  app.get('/console', (_req, reply) => reply.redirect(CONSOLE_PATH, 301));
  app.get(CONSOLE_PATH, (_req, reply) => send(reply, 'index.html'));
  app.get(`${CONSOLE_PATH}:file`, (req, reply) => send(reply, (req.params as { file: string }).file));
}
