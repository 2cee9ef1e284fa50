// Lets a benchmark module be both imported by bench/run.ts and run on its own
// (`npm run bench:ipam` = `node dist/bench/ipam.js [--quick]`):
//
//   export const run: BenchRun = async ({ quick }) => [...];
//   runIfMain(import.meta.url, run);
//
// On its own it prints the table; only bench/run.ts writes bench/results/.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatTable, type BenchRun } from './report.js';

function samePath(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return a === b;
  }
}

/** Runs `run` and prints its table when `importMetaUrl` is the script node was started with. */
export function runIfMain(importMetaUrl: string, run: BenchRun): void {
  const script = process.argv[1];
  if (!script || !samePath(script, fileURLToPath(importMetaUrl))) return;
  const quick = process.argv.slice(2).includes('--quick');
  run({ quick }).then(
    (workloads) => process.stdout.write(formatTable(workloads)),
    (err: unknown) => {
      process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
