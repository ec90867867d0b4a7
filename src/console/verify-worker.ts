/**
 * The verification worker: checks run here so the page stays responsive
 * while a whole log or a large bundle is verified. It fetches from the node
 * itself (same origin, the user's credential) and trusts nothing it gets.
 * The same script also runs as a helper that checks batches of signatures
 * (signature-workers.ts), started by the verification worker itself.
 */
import { primitive } from './crypto.js';
import { serve, type VerifyRequest, type WorkerMessage } from './verify-protocol.js';
import type { SignatureJob } from './signature-workers.js';

const scope = self as unknown as { postMessage(m: unknown): void; onmessage: ((e: MessageEvent<{ id: number; req: VerifyRequest } | { signatures: SignatureJob }>) => void) | null };

scope.onmessage = (e) => {
  if ('signatures' in e.data) {
    const job = e.data.signatures;
    const verify = primitive(job.primitive).verify;
    void Promise.all(job.items.map((it) => verify(it.spki, it.message, it.signature))).then((ok) => scope.postMessage({ batch: job.batch, ok }));
    return;
  }
  const { id, req } = e.data;
  let last = 0;
  const post = (m: WorkerMessage): void => scope.postMessage(m);
  serve(req, (done, total) => {
    // At most ~20 progress messages a second: each is a task on the page.
    const now = performance.now();
    if (now - last < 50 && done < total) return;
    last = now;
    post({ id, progress: [done, total] });
  }).then(
    (done) => post({ id, done }),
    (err: unknown) => post({ id, error: (err as Error)?.message ?? String(err) }),
  );
};
