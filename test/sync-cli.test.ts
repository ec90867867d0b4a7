/**
 * `cairn diff` and `cairn sync` as a user runs them: bin/cairn.js against a
 * real git repository and a real node. Exit codes: diff 0 (printed, in sync
 * or not), 1 with --exit-code when there is drift, 2 for usage errors and a
 * desired state with manifest errors.
 */
import t from 'tap';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { CLI, runCli, startTestNode, tempDir } from './helpers/node.js';
import { configMap, createRepo, secret, until } from './sync-helpers.js';
import { decodeBody } from '../src/core/entry.js';
import { readSyncEntry } from '../src/sync/sync-entry.js';
import { parseTargetSpec } from '../src/sync/target-spec.js';
import { parseDuration, parseIgnoreFlag } from '../src/cli/sync-commands.js';
import { main } from '../src/cli/main.js';

const tn = await startTestNode();
t.teardown(() => tn.close());
const repo = await createRepo();
t.teardown(() => repo.close());
const live = await tempDir('cairn-sync-cli-live-');
t.teardown(() => live.remove());
const home = await tempDir('cairn-sync-cli-home-');
t.teardown(() => home.remove());

await repo.write('apps/web.yaml', configMap('web', { color: 'blue' }));
await repo.write('apps/db.yaml', secret('db', { password: 'sw0rdfish-secret' }));
const commit = await repo.commit('initial');
await writeFile(join(live.path, 'web.yaml'), configMap('web', { color: 'blue' }));
await writeFile(join(live.path, 'db.yaml'), secret('db', { password: 'sw0rdfish-secret' }));

const env = { CAIRN_SERVER: '', NODE_OPTIONS: '', XDG_CONFIG_HOME: join(home.path, 'config'), XDG_CACHE_HOME: join(home.path, 'cache'), NO_COLOR: '' };
const cli = (args: string[]) => runCli(args, env);
const target = ['--repo', repo.path, '--path', 'apps', '--target', `dir:${live.path}`];

t.test('diff: in sync prints so and exits 0, also with --exit-code', async (t) => {
  const r = await cli(['diff', ...target, '--exit-code']);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `in sync at ${commit}\n`);
});

t.test('diff: drift is printed (secrets masked), exit 0; --exit-code exits 1; --json for scripts', async (t) => {
  await writeFile(join(live.path, 'web.yaml'), configMap('web', { color: 'red' }));
  await writeFile(join(live.path, 'db.yaml'), secret('db', { password: 'changed-by-hand' }));
  await writeFile(join(live.path, 'extra.yaml'), configMap('extra', {}));
  const r = await cli(['diff', ...target]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, 'MODIFIED default/ConfigMap/web\n  ~ data.color: "red" -> "blue"\n');
  t.match(r.stdout, 'ADDED_IN_CLUSTER default/ConfigMap/extra');
  t.match(r.stdout, /MODIFIED default\/Secret\/db\n  ~ data\.password: "\*\*\*" -> "\*\*\*"/);
  t.notMatch(r.stdout + r.stderr, /sw0rdfish|changed-by-hand|c3cwcmRmaXNo|Y2hhbmdlZC1ieS1oYW5k/);
  t.notMatch(r.stdout, /\u001b\[/, 'no color when stdout is not a terminal');
  t.match(r.stdout, `3 drift(s) at ${commit}: 1 added in cluster, 0 removed from cluster, 2 modified`);
  t.equal((await cli(['diff', ...target, '--exit-code'])).code, 1);
  t.match((await cli(['diff', ...target, '--color', 'always'])).stdout, /\u001b\[33m~ data\.color/);
  const j = await cli(['diff', ...target, '--json', '--ignore', 'Secret', '--ignore', 'ConfigMap:/data/color']);
  t.equal(j.code, 0, j.stderr);
  const out = JSON.parse(j.stdout) as { commit: string; changes: { key: string; status: string }[] };
  t.equal(out.commit, commit);
  t.same(out.changes.map((c) => [c.key, c.status]), [['default/ConfigMap/extra', 'ADDED_IN_CLUSTER']], 'ignore rules apply');
});

t.test('diff: manifest errors name file and document and exit 2', async (t) => {
  await repo.git('checkout', '--quiet', '-b', 'broken');
  await repo.write('apps/bad.yaml', 'kind: ConfigMap\nmetadata: {name: [x\n');
  await repo.commit('broken');
  await repo.git('checkout', '--quiet', 'main');
  const r = await cli(['diff', ...target, '--branch', 'broken']);
  t.equal(r.code, 2);
  t.match(r.stderr, /apps\/bad\.yaml document 1: /);
});

t.test('usage errors exit 2 (before anything is read or recorded)', async (t) => {
  // In-process: only stderr is written, and each spawn would cost a second.
  const stderr = process.stderr.write;
  let err = '';
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    for (const args of [
      ['diff', '--repo', repo.path],
      ['diff', ...target, '--branch=--upload-pack=touch /tmp/x'],
      ['diff', '--repo', repo.path, '--target', 'ftp:x'],
      ['diff', ...target, '--ignore', 'not a rule'],
      ['sync', ...target, '--interval', 'soon'],
      ['sync', ...target, '--name', 'Bad Name'],
      ['diff', ...target, '--bogus'],
    ]) {
      err = '';
      t.equal(await main(args), 2, `${args.join(' ')}: ${err.trim()}`);
    }
    for (const [args, says] of [
      [['diff', ...target, '--kube-resource', 'v1/configmaps/ConfigMap'], /--kube-resource is only for --target kubernetes/],
      [['diff', '--repo', repo.path, '--target', 'kubernetes', '--kube-resource', 'configmaps'], /--kube-resource\[0\]: "configmaps" is not \[GROUP\/\]VERSION\/PLURAL\/Kind/],
      [['sync', '--repo', repo.path, '--target', 'kubernetes', '--kube-resource', 'v1/configmaps/ConfigMap@Bad'], /--kube-resource\[0\]\.namespace/],
    ] as const) {
      err = '';
      t.equal(await main([...args]), 2, args.join(' '));
      t.match(err, says, `${args.join(' ')} names the flag: ${err.trim()}`);
    }
  } finally {
    process.stderr.write = stderr;
  }
});

t.test('sync --once records the drift into the node, once', async (t) => {
  const maskKey = join(home.path, 'mask.key');
  const args = ['sync', '--server', tn.node.grpcAddress, ...target, '--once', '--log', 'cli-sync', '--mask-key', maskKey];
  const r = await cli(args);
  t.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { target: string; commit: string; drifts: number; recorded: number };
  t.match(summary, { target: 'dir', commit, drifts: 3, recorded: 3 });
  t.equal((await stat(maskKey)).mode & 0o777, 0o600, 'the mask key is created private');
  const again = JSON.parse((await cli(args)).stdout) as { recorded: number };
  t.equal(again.recorded, 0, 'a second run finds the drifts already recorded');
  const actions: string[] = [];
  for await (const e of tn.client.listEntries('cli-sync')) {
    const rec = readSyncEntry(decodeBody(e.body))!;
    actions.push(`${rec.action} ${rec.payload.key}`);
    t.equal(decodeBody(e.body).operator, 'cairn-sync/dir');
    t.notMatch(new TextDecoder().decode(e.body), /sw0rdfish|changed-by-hand|c3cwcmRmaXNo|Y2hhbmdlZC1ieS1oYW5k/);
  }
  t.same(actions.sort(), ['drift.added_in_cluster default/ConfigMap/extra', 'drift.modified default/ConfigMap/web', 'drift.modified default/Secret/db']);
});

t.test('sync follows changes, one JSON line per entry, and stops cleanly on SIGTERM', async (t) => {
  const child = spawn(process.execPath, [CLI, 'sync', '--server', tn.node.grpcAddress, ...target, '--log', 'cli-follow', '--interval', '100ms', '--mask-key', join(home.path, 'mask.key')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await until(() => out.split('\n').filter(Boolean).length >= 3, 20_000, 'three entries');
  await writeFile(join(live.path, 'web.yaml'), configMap('web', { color: 'blue' }));
  await until(() => out.includes('"action":"drift.resolved"'), 20_000, 'the resolution');
  const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { target: string; action: string; seq: number; latencyMs: number });
  t.ok(lines.every((l) => l.target === 'dir' && typeof l.seq === 'number' && l.latencyMs >= 0));
  child.kill('SIGTERM');
  t.equal(await exited, 0, err);
});

t.test('flag and target syntax', async (t) => {
  t.same(parseTargetSpec('dir:./live'), { kind: 'dir', path: './live' });
  t.same(parseTargetSpec('etcd:127.0.0.1:2379,10.0.0.2:2379/registry/'), { kind: 'etcd', endpoints: ['127.0.0.1:2379', '10.0.0.2:2379'], prefix: '/registry/' });
  t.same(parseTargetSpec('etcd:https://etcd.example:2379/config/'), { kind: 'etcd', endpoints: ['https://etcd.example:2379'], prefix: '/config/' });
  t.same(parseTargetSpec('kubernetes'), { kind: 'kubernetes' });
  t.same(parseTargetSpec('kubernetes:prod-eu'), { kind: 'kubernetes', context: 'prod-eu' });
  for (const bad of ['dir:', 'etcd:/registry', 'etcd:host/x', 'kubernetes:', 'k8s']) t.throws(() => parseTargetSpec(bad), { code: 'INVALID_ARGUMENT' }, bad);
  t.equal(parseDuration('500ms', 'interval'), 500);
  t.equal(parseDuration('15s', 'interval'), 15_000);
  t.equal(parseDuration('2m', 'interval'), 120_000);
  t.equal(parseDuration('3', 'interval'), 3000);
  t.same(parseIgnoreFlag('/spec/replicas'), { pointer: '/spec/replicas' });
  t.same(parseIgnoreFlag('Deployment:/spec/replicas'), { kind: 'Deployment', pointer: '/spec/replicas' });
  t.same(parseIgnoreFlag('Event'), { kind: 'Event' });
});
