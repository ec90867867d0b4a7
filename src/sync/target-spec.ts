/**
 * The `--target` syntax of `cairn sync` and `cairn diff` (and `target` of a
 * sync target in the serve config):
 *
 *   dir:PATH                          a directory of YAML files
 *   etcd:ENDPOINTS/PREFIX             ENDPOINTS comma-separated host:port or
 *                                     http(s)://host:port; PREFIX starts at the
 *                                     first "/" after them (e.g. /registry/)
 *   kubernetes[:CONTEXT]              the kubeconfig's current or named context
 *
 * Pure module: no Node-only imports.
 */
import { invalidArgument } from '../core/errors.js';

export type TargetSpec =
  | { kind: 'dir'; path: string }
  | { kind: 'etcd'; endpoints: string[]; prefix: string }
  | { kind: 'kubernetes'; context?: string };

const ENDPOINT_RE = /^(?:https?:\/\/)?(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/;

/** @throws CairnError INVALID_ARGUMENT naming `field` */
export function parseTargetSpec(spec: string, field = 'target'): TargetSpec {
  if (/[\u0000-\u001f\u007f]/.test(spec)) throw invalidArgument(field, 'contains control characters');
  if (spec.startsWith('dir:')) {
    const path = spec.slice(4);
    if (!path) throw invalidArgument(field, 'dir: needs a directory, e.g. dir:./live');
    return { kind: 'dir', path };
  }
  if (spec === 'kubernetes') return { kind: 'kubernetes' };
  if (spec.startsWith('kubernetes:')) {
    const context = spec.slice('kubernetes:'.length);
    if (!context) throw invalidArgument(field, 'kubernetes: needs a context name, or use plain "kubernetes" for the current one');
    return { kind: 'kubernetes', context };
  }
  if (spec.startsWith('etcd:')) {
    const rest = spec.slice(5);
    // The prefix starts at the first "/" that is not part of a scheme's "://".
    const masked = rest.replace(/https?:\/\//g, (m) => '#'.repeat(m.length));
    const slash = masked.indexOf('/');
    if (slash < 0) throw invalidArgument(field, 'etcd: needs ENDPOINTS/PREFIX, e.g. etcd:127.0.0.1:2379/registry/');
    const endpoints = rest.slice(0, slash).split(',').filter((e) => e !== '');
    const prefix = rest.slice(slash);
    if (endpoints.length === 0) throw invalidArgument(field, 'etcd: needs at least one endpoint');
    for (const e of endpoints) if (!ENDPOINT_RE.test(e)) throw invalidArgument(field, `etcd endpoint "${e}" is not host:port or http(s)://host:port`);
    return { kind: 'etcd', endpoints, prefix };
  }
  throw invalidArgument(field, 'must be dir:PATH, etcd:ENDPOINTS/PREFIX or kubernetes[:CONTEXT]');
}
