/**
 * The verification worker: checks run here so the page stays responsive
 * while a whole log or a large bundle is verified. It fetches from the node
 * itself (same origin, the user's credential) and trusts nothing it gets.
 */
import { serve, type VerifyRequest, type WorkerMessage } from './verify-protocol.js';

const scope = self as unknown as { postMessage(m: WorkerMessage): void; onmessage: ((e: MessageEvent<{ id: number; req: VerifyRequest }>) => void) | null };

scope.onmessage = (e) => {
  const { id, req } = e.data;
  let last = 0;
  serve(req, (done, total) => {
    // At most ~20 progress messages a second: each is a task on the page.
    const now = performance.now();
    if (now - last < 50 && done < total) return;
    last = now;
    scope.postMessage({ id, progress: [done, total] });
  }).then(
    (done) => scope.postMessage({ id, done }),
    (err: unknown) => scope.postMessage({ id, error: (err as Error)?.message ?? String(err) }),
  );
};
