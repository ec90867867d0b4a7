/**
 * The CI recipes of docs/integrations/ci.md, run as written: the GitHub
 * Actions and GitLab CI pipelines are read from the document, and their
 * `curl` and `cairn` commands run in bash against a real node process (a
 * policy, a token from the "secret store"), with the CI system's variables
 * set as the runner would. The record, a retried record, the offline
 * verification of the kept receipt, and a tampered receipt that fails it.
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CLI, ROOT, outputOf, spawnNode, tempDir } from './helpers/node.js';
import { createToken } from '../src/auth/tokens.js';

const DOC = join(ROOT, 'docs', 'integrations', 'ci.md');

/** The first ```yaml block after the heading `## <title>`. */
function pipeline(md: string, title: string): any {
  const at = md.indexOf(`\n## ${title}\n`);
  const m = at < 0 ? null : /```yaml\n([\s\S]*?)```/.exec(md.slice(at));
  if (!m) throw new Error(`docs/integrations/ci.md has no yaml block under "## ${title}"`);
  return parseYaml(m[1]!);
}

function bash(script: string, cwd: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  // GitHub runs `run:` with `bash -e {0}`; GitLab runs a job's script lines in one shell, stopping at the first failure.
  return outputOf(spawn('bash', ['-e', '-c', script], { cwd, env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? cwd, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** `${{ expr }}` of a GitHub workflow, from what a runner would put there. */
function githubExpressions(text: string, values: Record<string, string>, unknown: string[]): string {
  return text.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_, expr: string) => {
    if (!(expr in values)) unknown.push(expr);
    return values[expr] ?? '';
  });
}

interface Scene {
  base: string;
  token: string;
  /** A directory with `cairn` on it, as the verifying job installs it. */
  binDir: string;
  pubkey: string;
}

async function scene(t: Test): Promise<Scene> {
  const dir = await tempDir('cairn-ci-');
  t.teardown(dir.remove);
  const ci = createToken('ci');
  await writeFile(join(dir.path, 'policy.yaml'), ['tenants:', '  deployers: [append:prod, read:prod]', 'identities:', "  - { match: 'token:ci', tenant: deployers }", ''].join('\n'));
  await writeFile(join(dir.path, 'tokens'), `${ci.line}\n`);
  const node = await spawnNode(join(dir.path, 'data'), ['--policy-file', join(dir.path, 'policy.yaml'), '--tokens-file', join(dir.path, 'tokens')]);
  t.teardown(() => node.stop());
  const binDir = join(dir.path, 'bin');
  await mkdir(binDir);
  await writeFile(join(binDir, 'cairn'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  await chmod(join(binDir, 'cairn'), 0o755);
  return { base: node.httpAddress, token: ci.token, binDir, pubkey: join(dir.path, 'data', 'signing-key.pub.pem') };
}

/** A fresh job workspace: a checkout holding the pinned key. */
async function workspace(s: Scene, name: string): Promise<string> {
  const dir = (await tempDir(`cairn-ci-${name}-`)).path;
  await mkdir(join(dir, '.cairn'));
  await copyFile(s.pubkey, join(dir, '.cairn', 'node.pub.pem'));
  return dir;
}

/**
 * Runs a pipeline's record job twice (a retry), then its verify job on the
 * kept receipt, then the verify job on a tampered copy.
 */
async function runRecipe(t: Test, s: Scene, record: (cwd: string) => Promise<{ code: number; stdout: string; stderr: string }>, verify: (cwd: string) => Promise<{ code: number; stdout: string; stderr: string }>): Promise<void> {
  const job1 = await workspace(s, 'record');
  const first = await record(job1);
  t.equal(first.code, 0, `the record job succeeds: ${first.stderr}`);
  const receipt = JSON.parse(await readFile(join(job1, 'receipt.json'), 'utf8'));
  t.same([receipt.log, receipt.replayed, receipt.entry.fields.action, receipt.entry.fields.identity], ['prod', false, 'deploy', 'token:ci'], 'the receipt of the change, recorded under the CI token');
  t.equal(receipt.entry.fields.commit, '0123456789abcdef0123456789abcdef01234567', 'the job\'s commit');

  const retry = await record(job1);
  t.equal(retry.code, 0);
  const again = JSON.parse(await readFile(join(job1, 'receipt.json'), 'utf8'));
  t.same([again.replayed, again.seq, again.hash], [true, receipt.seq, receipt.hash], 'a retried job gets the first receipt back');

  const job2 = await workspace(s, 'verify');
  await writeFile(join(job2, 'receipt.json'), JSON.stringify(receipt, null, 2));
  const ok = await verify(job2);
  t.equal(ok.code, 0, `the verify job succeeds: ${ok.stderr}`);
  t.match(JSON.parse(ok.stdout), { ok: true, log: 'prod', seq: receipt.seq });

  const forged = structuredClone(receipt);
  forged.entry.body = forged.entry.body.replace('"action":"deploy"', '"action":"rollback"');
  await writeFile(join(job2, 'receipt.json'), JSON.stringify(forged));
  const bad = await verify(job2);
  t.equal(bad.code, 1, 'a receipt altered after the fact fails the verify job');
  t.match(bad.stderr, /VERIFICATION FAILED \[SIGNATURE_INVALID\]/);
}

t.test('GitHub Actions: the record job\'s curl and the verify job\'s cairn, as written in ci.md', async (t) => {
  const wf = pipeline(await readFile(DOC, 'utf8'), 'GitHub Actions');
  const s = await scene(t);
  const unknown: string[] = [];
  const expressions = { 'vars.CAIRN_URL': s.base, 'secrets.CAIRN_TOKEN': s.token, 'github.repository_id': '811', 'github.run_id': '4242' };
  const runner = { GITHUB_REPOSITORY: 'example/payments', GITHUB_ACTOR: 'alice', GITHUB_SERVER_URL: 'https://github.com', GITHUB_RUN_ID: '4242', GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567', GITHUB_REF: 'refs/heads/main' };
  /** The `run:` steps of a job that call curl or cairn (the others install tools). */
  const steps = (job: string): { run: string; env: Record<string, string> }[] =>
    (wf.jobs[job].steps as { run?: string; env?: Record<string, string> }[])
      .filter((st) => st.run !== undefined && /\bcurl\b|\bcairn verify-receipt\b/.test(st.run))
      .map((st) => ({ run: st.run!, env: Object.fromEntries(Object.entries(st.env ?? {}).map(([k, v]) => [k, githubExpressions(String(v), expressions, unknown)])) }));
  const recordSteps = steps('record');
  const verifySteps = steps('verify');
  t.same([recordSteps.length, verifySteps.length], [1, 1], 'one step records, one verifies');
  t.ok(wf.jobs.record.steps.some((st: any) => st.uses?.startsWith('actions/upload-artifact') && st.with?.path === 'receipt.json'), 'the record job keeps the receipt as an artifact');
  t.ok(wf.jobs.verify.steps.some((st: any) => st.uses?.startsWith('actions/download-artifact')), 'the verify job fetches it');
  const run = (st: { run: string; env: Record<string, string> }) => (cwd: string) => bash(st.run, cwd, { ...runner, ...st.env, PATH: `${s.binDir}:${process.env.PATH}` });
  await runRecipe(t, s, run(recordSteps[0]!), run(verifySteps[0]!));
  t.same(unknown, [], 'workflow expressions the test does not provide');
});

t.test('GitLab CI: the record job\'s curl and the verify job\'s cairn, as written in ci.md', async (t) => {
  const ci = pipeline(await readFile(DOC, 'utf8'), 'GitLab CI');
  const s = await scene(t);
  const variables = {
    CAIRN_URL: s.base, CAIRN_TOKEN: s.token, CI_PROJECT_ID: '77', CI_PIPELINE_ID: '9001', CI_JOB_NAME: 'record-change', CI_JOB_ID: '123456',
    CI_PROJECT_PATH: 'example/payments', GITLAB_USER_LOGIN: 'alice', CI_JOB_URL: 'https://gitlab.example.com/example/payments/-/jobs/123456',
    CI_COMMIT_SHA: '0123456789abcdef0123456789abcdef01234567', CI_COMMIT_REF_NAME: 'main',
  };
  t.same(ci['record-change'].artifacts.paths, ['receipt.json'], 'the record job keeps the receipt as an artifact');
  t.same(ci['verify-receipt'].needs, ['record-change'], 'the verify job gets it');
  const job = (name: string, extra: Record<string, string> = {}) => (cwd: string) =>
    bash((ci[name].script as string[]).join('\n'), cwd, { ...variables, ...extra, PATH: `${s.binDir}:${process.env.PATH}` });
  // A retry is a new job id in the same pipeline.
  let attempt = 0;
  const record = (cwd: string) => job('record-change', { CI_JOB_ID: String(123456 + attempt++) })(cwd);
  await runRecipe(t, s, record, job('verify-receipt'));
});

t.test('a wrong token fails the record job with the node\'s error, and records nothing', async (t) => {
  const wf = pipeline(await readFile(DOC, 'utf8'), 'GitLab CI');
  const s = await scene(t);
  const cwd = await workspace(s, 'denied');
  const r = await bash((wf['record-change'].script as string[]).join('\n'), cwd, {
    CAIRN_URL: s.base, CAIRN_TOKEN: createToken('ci').token, CI_PROJECT_ID: '1', CI_PIPELINE_ID: '2', CI_JOB_NAME: 'record-change',
    CI_PROJECT_PATH: 'example/payments', GITLAB_USER_LOGIN: 'alice', CI_JOB_URL: 'https://gitlab.example.com/j/1', CI_COMMIT_SHA: '0123456789abcdef0123456789abcdef01234567', CI_COMMIT_REF_NAME: 'main',
  });
  t.not(r.code, 0, 'the job fails');
  t.match(JSON.parse(await readFile(join(cwd, 'receipt.json'), 'utf8')), { code: 'UNAUTHENTICATED', field: null }, 'curl --fail-with-body keeps the node\'s error');
});
