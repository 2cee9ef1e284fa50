import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runFailoverDemo } from '../../lab/failover-demo.js';
import { FAULTS, formatFailoverTable } from '../../lab/failover-measure.js';
import { startLab, type Lab } from '../../lab/lab.js';
import { skipUnlessRoot } from './helpers-resilience.js';

// `fulcrum lab --failover-demo` from code: the TCP echo address's owner taken down three ways
// while a client connects every 10 ms. The figures are printed, not asserted (a busy machine
// stretches them); what must hold is the structure: three faults, each moved the address to
// another node, each gap measured from real connections, each node restored.
const PREFIX = 'fdm';

describe('lab: the failover demo (link down, speaker SIGKILL, speaker SIGTERM)', function () {
  this.timeout(300_000);
  let lab: Lab | undefined;
  let stateDir = '';

  before(async function () {
    skipUnlessRoot(this, 'failover demo e2e');
    stateDir = mkdtempSync(join(tmpdir(), `fulcrum-${PREFIX}-`));
    lab = await startLab({ prefix: PREFIX, nodes: 3, stateDir, restart: true });
    await lab.waitForAddresses(30_000);
    assert.deepEqual(await lab.waitForSpeakers(30_000), [], 'every speaker ready');
  });

  after(async () => {
    await lab?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('three rows: each fault moves the address to another node, the gap is measured, the node is restored', async () => {
    const l = lab!;
    const lines: string[] = [];
    const rows = await runFailoverDemo(l, { onLine: (x) => lines.push(x) });
    console.log(`${lines.map((x) => `      ${x}`).join('\n')}\n\n${formatFailoverTable(rows).replace(/^/gm, '      ')}\n`);
    const nodes = l.topology.nodes.map((n) => n.name);
    assert.deepEqual(rows.map((r) => r.fault), [...FAULTS]);
    for (const r of rows) {
      assert.ok(nodes.includes(r.oldOwner) && nodes.includes(r.newOwner), `${r.fault}: owners are nodes (${r.oldOwner} → ${r.newOwner})`);
      assert.notEqual(r.newOwner, r.oldOwner, `${r.fault}: another node took over`);
      assert.ok(r.gap.recovered, `${r.fault}: connections succeeded again`);
      assert.ok(r.gap.attempts > 0 && Number.isFinite(r.gap.longestGapMs) && r.gap.longestGapMs > 0, `${r.fault}: measured from real attempts (${JSON.stringify(r.gap)})`);
      assert.ok(nodes.includes(r.ownerAfterRestore), `${r.fault}: an owner after the restore`);
    }
    assert.equal(rows[0]!.restored, 'link up');
    const killed = rows.slice(1).map((r) => `speaker ${r.oldOwner}`);
    for (const slot of killed) assert.ok(l.supervisor.record(slot).restarts >= 1, `${slot} started again by the demo`);
    for (const [node, p] of l.speakers) assert.ok(p.running, `speaker ${node} running after the demo`);
    // the link-down gap holds failed attempts: connections to the unplugged owner went nowhere
    assert.ok(rows[0]!.gap.failed > 0, `link down: failed attempts counted (${JSON.stringify(rows[0]!.gap)})`);
  });
});
