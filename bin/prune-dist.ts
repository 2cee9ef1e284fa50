/**
 * Build step after tsc: removes compiled files in dist/ whose TypeScript source is gone (a
 * renamed or deleted module, a removed test), so a working copy never runs or imports stale
 * code. Only dist/ is touched, and only .js/.js.map files without a matching .ts.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = join(root, 'dist');

function prune(dir: string): number {
  let removed = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      removed += prune(path);
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true, force: true });
      continue;
    }
    const m = /^(.*)\.js(\.map)?$/.exec(entry.name);
    if (!m) continue;
    const source = join(root, relative(dist, dir), `${m[1]}.ts`);
    if (!existsSync(source)) {
      rmSync(path, { force: true });
      removed++;
    }
  }
  return removed;
}

if (existsSync(dist)) {
  const n = prune(dist);
  if (n > 0) process.stdout.write(`prune-dist: removed ${n} stale file(s) from dist/\n`);
}
