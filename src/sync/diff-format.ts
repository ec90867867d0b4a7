/**
 * `cairn diff` output for humans: one block per changed object, one line per
 * patch operation, optionally colored (ANSI) on a terminal. Values are the
 * patch's, so Secret values are already masked.
 *
 *   MODIFIED default/Deployment/web
 *     ~ spec.replicas: 5 -> 2
 *     ~ spec.template.spec.containers[name=app].image: "app:1" -> "app:2"
 *     - spec.template.spec.containers[name=istio-proxy]: {"name":"istio-proxy",…}
 *     - metadata.labels.debug: "true"
 *
 * Paths are dotted, with a keyed list's element named by its key as
 * Kubernetes identifies it (the change's `where`); a field that is not a
 * plain name is quoted (`metadata.labels["app.kubernetes.io/name"]`).
 *
 * Pure module: no Node-only imports.
 */
import type { Change, JsonPatchOp } from './diff.js';

const COLORS = { red: '\u001b[31m', green: '\u001b[32m', yellow: '\u001b[33m', bold: '\u001b[1m', reset: '\u001b[0m' } as const;
const MAX_VALUE = 160;

function value(v: unknown): string {
  const s = JSON.stringify(v) ?? 'null';
  return s.length > MAX_VALUE ? s.slice(0, MAX_VALUE - 1) + '…' : s;
}

/**
 * Pairs each `test` with the op it guards: `~` changed, `-` removed, `+`
 * added. `where` names each op (a change's `where`); without it, ops are
 * named by their JSON pointer.
 */
export function describeOps(ops: readonly JsonPatchOp[], where?: readonly string[]): { sign: '+' | '-' | '~'; text: string }[] {
  const out: { sign: '+' | '-' | '~'; text: string }[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const path = (where?.[i] ?? op.path) || '(whole object)';
    if (op.op === 'test') {
      const nextOp = ops[i + 1];
      if (nextOp && nextOp.path === op.path && nextOp.op === 'replace') {
        out.push({ sign: '~', text: `${path}: ${value(op.value)} -> ${value(nextOp.value)}` });
        i++;
      } else if (nextOp && nextOp.path === op.path && nextOp.op === 'remove') {
        out.push({ sign: '-', text: op.path ? `${path}: ${value(op.value)}` : path });
        i++;
      }
      continue;
    }
    if (op.op === 'add') out.push({ sign: '+', text: op.path ? `${path}: ${value(op.value)}` : path });
    else if (op.op === 'replace') out.push({ sign: '~', text: `${path}: -> ${value(op.value)}` });
    else if (op.op === 'remove') out.push({ sign: '-', text: path });
  }
  return out;
}

export function formatChanges(changes: readonly Change[], opts: { color?: boolean; commit?: string } = {}): string {
  const c = (code: keyof typeof COLORS, s: string): string => (opts.color ? COLORS[code] + s + COLORS.reset : s);
  const signColor = { '+': 'green', '-': 'red', '~': 'yellow' } as const;
  const lines: string[] = [];
  for (const ch of changes) {
    lines.push(c('bold', `${ch.status} ${ch.key}`));
    for (const d of describeOps(ch.patch, ch.where)) lines.push('  ' + c(signColor[d.sign], `${d.sign} ${d.text}`));
  }
  const count = (s: Change['status']): number => changes.filter((x) => x.status === s).length;
  const at = opts.commit ? ` at ${opts.commit}` : '';
  lines.push(
    changes.length === 0
      ? `in sync${at}`
      : `${changes.length} drift(s)${at}: ${count('ADDED_IN_CLUSTER')} added in cluster, ${count('REMOVED_FROM_CLUSTER')} removed from cluster, ${count('MODIFIED')} modified`,
  );
  return lines.join('\n') + '\n';
}
