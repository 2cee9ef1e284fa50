import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { forcedHeaps, liveHeapGrowth, majorGcs } from '../../bench/lib/gc-trace.js';

/** The --trace-gc output of a real Node that keeps (or drops) `mib` MiB between two full collections. */
function traceOf(keep: boolean, mib: number): string {
  const code = `const kept = []; gc();
    for (let i = 0; i < ${mib}; i++) kept.push(new Array(128 * 1024).fill(i));
    ${keep ? '' : 'kept.length = 0;'} gc(); console.log(JSON.stringify({ event: 'done', n: kept.length }));`;
  return execFileSync(process.execPath, ['--trace-gc', '--expose-gc', '-e', code], { encoding: 'utf8' });
}

describe('bench: the live heap from --trace-gc (the soak)', () => {
  it('reads the mark-compacts of a real Node among other lines, and sees memory kept between them', () => {
    const kept = majorGcs(traceOf(true, 40));
    assert.ok(kept.length >= 2, `two forced mark-compacts at least, got ${kept.length}`);
    for (const g of kept) assert.ok(g.afterMiB > 0 && g.beforeMiB > 0 && g.atMs >= 0, JSON.stringify(g));
    const grew = liveHeapGrowth(kept, 0);
    assert.ok(grew.growthPct !== undefined && grew.lastMiB! - grew.firstMiB! > 20, `about 40 MiB kept: ${JSON.stringify(grew)}`);
    const dropped = liveHeapGrowth(majorGcs(traceOf(false, 40)), 0);
    assert.ok(dropped.lastMiB! - dropped.firstMiB! < 5, `nothing kept: ${JSON.stringify(dropped)}`);
  });

  it('counts only collections after the warm-up; fewer than two give no growth', () => {
    const gcs = [{ atMs: 10, beforeMiB: 9, afterMiB: 5 }, { atMs: 70_000, beforeMiB: 20, afterMiB: 10 }, { atMs: 900_000, beforeMiB: 21, afterMiB: 11 }];
    const { growthPct, ...rest } = liveHeapGrowth(gcs, 60_000);
    assert.deepEqual(rest, { count: 2, firstMiB: 10, lastMiB: 11, maxMiB: 11 });
    assert.ok(Math.abs(growthPct! - 10) < 1e-9, String(growthPct));
    assert.deepEqual(liveHeapGrowth(gcs, 100_000), { count: 1, firstMiB: 11, lastMiB: undefined, growthPct: undefined, maxMiB: 11 });
  });

  it('src/heap-probe: with --expose-gc, SIGUSR2 prints the heap after a full collection (read back by forcedHeaps); without it, nothing is installed', () => {
    const probe = new URL('../../src/heap-probe.js', import.meta.url).href;
    const code = `const m = await import(${JSON.stringify(probe)}); const kept = [];
      console.log(JSON.stringify({ installed: m.heapProbeOnSignal() }));
      process.kill(process.pid, 'SIGUSR2'); await new Promise((r) => setTimeout(r, 50));
      for (let i = 0; i < 20; i++) kept.push(new Array(128 * 1024).fill(i));
      process.kill(process.pid, 'SIGUSR2'); await new Promise((r) => setTimeout(r, 50)); console.log(kept.length);`;
    const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', code], { encoding: 'utf8' });
    assert.match(out, /"installed":true/);
    const heaps = forcedHeaps(out);
    assert.equal(heaps.length, 2, out);
    assert.ok(heaps[1]!.usedMiB - heaps[0]!.usedMiB > 10, `about 20 MiB kept between the two: ${JSON.stringify(heaps)}`);
    const plain = execFileSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(probe)}); console.log(JSON.stringify({ installed: m.heapProbeOnSignal() }));`], { encoding: 'utf8' });
    assert.match(plain, /"installed":false/);
  });
});
