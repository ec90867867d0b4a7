/**
 * The chaos suite: every scenario of test/chaos/scenarios/ against a live
 * sync target, one after the other, then a table (scenario, faults
 * injected, drifts created, entries recorded, invariant violations, time
 * back to steady state) and every violation found. Exits 1 when any
 * invariant was violated.
 *
 *   npm run chaos [-- --only NAME[,NAME]]
 *
 * Bounded: each scenario's fault window is at most two minutes (the
 * scenario files use 10 to 12 s) and its recovery at most its
 * `steady_within_ms`. Loopback only.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { ROOT } from '../test/helpers/node.js';
import { parseScenario, type Scenario } from '../test/chaos/scenario.js';
import { formatTable, runScenario, type ScenarioResult } from '../test/chaos/runner.js';

const { values } = parseArgs({ options: { only: { type: 'string' } }, strict: true });
const dir = join(ROOT, 'test', 'chaos', 'scenarios');
const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
const scenarios: Scenario[] = [];
for (const f of files) scenarios.push(parseScenario(await readFile(join(dir, f), 'utf8'), `test/chaos/scenarios/${f}`));
const only = values.only?.split(',');
const chosen = only ? scenarios.filter((s) => only.includes(s.name)) : scenarios;
if (only && chosen.length !== only.length) {
  console.error(`unknown scenario among ${only.join(', ')}; there are ${scenarios.map((s) => s.name).join(', ')}`);
  process.exit(2);
}

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
} catch {
  // not a checkout
}
const started = Date.now();
const results: ScenarioResult[] = [];
for (const s of chosen) {
  const r = await runScenario(s, (line) => console.error(line));
  results.push(r);
  console.error(`${s.name}: ${r.violations.length} violation(s), ${r.drifts} drifts, ${r.entries} entries, steady after ${r.steadyMs ?? '-'} ms`);
}
console.log(`Chaos suite at ${commit}, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${Math.round((Date.now() - started) / 1000)} s:\n`);
console.log(formatTable(results));
const violations = results.flatMap((r) => r.violations.map((v) => `${r.scenario}: ${v}`));
if (violations.length > 0) {
  console.log(`\n${violations.length} invariant violation(s):`);
  for (const v of violations) console.log(`- ${v}`);
  process.exit(1);
}
