/**
 * A plain HTTP(S) client for the HTTP API tests: the status, headers and
 * body exactly as the node sent them (node:http, no retries, no redirects).
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  json: any;
}

export interface HttpCallOptions {
  headers?: Record<string, string | string[]>;
  /** A string or bytes; an object is sent as JSON with Content-Type application/json. */
  body?: string | Uint8Array | object;
  /** For https: the CA to trust, and a client certificate. */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export function httpCall(base: string, method: string, path: string, opts: HttpCallOptions = {}): Promise<HttpAnswer> {
  const url = new URL(path, base);
  const headers: Record<string, string | string[]> = { ...opts.headers };
  let body: Uint8Array | undefined;
  if (typeof opts.body === 'string') body = Buffer.from(opts.body);
  else if (opts.body instanceof Uint8Array) body = opts.body;
  else if (opts.body !== undefined) {
    body = Buffer.from(JSON.stringify(opts.body));
    headers['content-type'] ??= 'application/json';
  }
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, ca: opts.ca, cert: opts.cert, key: opts.key, servername: 'localhost', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
