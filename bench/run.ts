// `npm run bench [-- --quick] [--only l4,l7,ipam,...] [--workers N] [--markdown]`
// The L4 suite (Fulcrum / haproxy / kernel DNAT / direct), the L7 suite (HTTP and TLS: Fulcrum /
// haproxy / direct), then every other benchmark module
// found in dist/bench/, one table, and bench/results/latest.json plus a dated copy.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { errorMessage } from '../src/errors.js';
import { killAllNow } from './lib/children.js';
import { assertWorkloads, formatMarkdown, formatTable, writeResults, type BenchRun, type Workload } from './lib/report.js';
import { runL4 } from './l4/suite.js';
import { runL7 } from './l7/suite.js';
import { runNodes } from './nodes/suite.js';

/** Modules written beside this one, each exporting `run(opts: { quick }): Promise<Workload[]>`. */
const MODULES = ['ipam', 'allocator', 'membership', 'failover'] as const;
const SUITES = ['l4', 'l7', 'nodes', ...MODULES] as const;

const USAGE = `Usage: npm run bench -- [--quick] [--only ${SUITES.join(',')}] [--workers N] [--markdown] [--no-write]

  --quick      short version of every suite (the L4 suite takes about 2 minutes, L7 about 1)
  --only       comma-separated suites to run (default: all that exist)
  --workers    Fulcrum worker processes = haproxy threads (default 1)
  --markdown   also print the table as Markdown
  --no-write   do not write bench/results/
`;

async function loadModule(name: string): Promise<BenchRun | string> {
  const url = new URL(`./${name}.js`, import.meta.url);
  if (!existsSync(fileURLToPath(url))) return `dist/bench/${name}.js not built`;
  const mod = (await import(url.href)) as { run?: unknown };
  if (typeof mod.run !== 'function') return `dist/bench/${name}.js exports no run()`;
  return mod.run as BenchRun;
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        workers: { type: 'string', default: '1' },
        markdown: { type: 'boolean', default: false },
        'no-write': { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    process.stderr.write(`bench: ${errorMessage(err)}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const only = values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : [...SUITES];
  const unknown = only.filter((s) => !(SUITES as readonly string[]).includes(s));
  const workers = Number(values.workers);
  if (unknown.length > 0 || !Number.isInteger(workers) || workers < 1 || workers > 64) {
    process.stderr.write(`bench: ${unknown.length ? `unknown suite(s) ${unknown.join(', ')}` : `--workers "${values.workers}" is not a whole number 1..64`}\n${USAGE}`);
    return 2;
  }
  const quick = values.quick;
  const startedAt = new Date();
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const workloads: Workload[] = [];
  let failed = false;
  for (const suite of only) {
    const t0 = performance.now();
    try {
      if (suite === 'l4') {
        workloads.push(...(await runL4({ quick, workers, log })));
      } else if (suite === 'l7') {
        workloads.push(...(await runL7({ quick, workers, log })));
      } else if (suite === 'nodes') {
        workloads.push(...(await runNodes({ quick, workers, log })));
      } else {
        const run = await loadModule(suite);
        if (typeof run === 'string') {
          log(`bench: skipping ${suite}: ${run}`);
          continue;
        }
        log(`bench: ${suite}…`);
        workloads.push(...assertWorkloads(await run({ quick }), `bench/${suite}`));
      }
      log(`bench: ${suite} took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } catch (err) {
      failed = true;
      log(`bench: ${suite} failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    }
  }
  const labels = only.includes('l4') || only.includes('l7') ? { fulcrum: `fulcrum (${workers} worker${workers > 1 ? 's' : ''})`, haproxy: `haproxy (nbthread ${workers})` } : {};
  process.stdout.write(`\nfulcrum bench ${quick ? '(quick) ' : ''}${startedAt.toISOString()}\n\n${formatTable(workloads, labels)}`);
  if (values.markdown) process.stdout.write(`\n${formatMarkdown(workloads, labels)}`);
  if (!values['no-write'] && workloads.length > 0) {
    const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
    const paths = writeResults(dir, workloads, startedAt);
    log(`bench: wrote ${paths.latest} and ${paths.dated}`);
  }
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    killAllNow();
    process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${errorMessage(err)}\n`);
    killAllNow();
    process.exit(1);
  },
);
