import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/lab.js';
import type { LabState } from '../../lab/state.js';
import { waitFor } from '../helpers/wait.js';
import { hideHostAddressesFromLab, skipUnlessRoot, vipHolders, waitForOneHolderEach } from './helpers-resilience.js';

// The lab plays the kubelet for its components (lab/supervisor.ts): with `restart: true` (what
// `fulcrum lab` passes unless --no-restart) a speaker that dies comes back after the back-off,
// 1 s then 2 s, and its node owns addresses again. From code the default stays off: the other
// e2e suites kill speakers and expect them to stay down.
const PREFIX = 'frs';

describe('lab: a killed speaker is restarted with a back-off (restart: true)', function () {
  this.timeout(120_000);
  let lab: Lab | undefined;
  let stateDir = '';
  const lines: string[] = [];

  before(async function () {
    skipUnlessRoot(this, 'lab restart e2e');
    stateDir = mkdtempSync(join(tmpdir(), `fulcrum-${PREFIX}-`));
    lab = await startLab({ prefix: PREFIX, nodes: 3, stateDir, restart: true, onProgress: (l) => lines.push(l) });
    await hideHostAddressesFromLab(lab);
    await lab.waitForAddresses(30_000);
    assert.deepEqual(await lab.waitForSpeakers(30_000), [], 'every speaker ready');
  });

  after(async () => {
    await lab?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  /** The node that holds the most addresses: killing its speaker moves something. */
  async function busiestNode(l: Lab): Promise<string> {
    const held = new Map<string, number>();
    for (const nodes of (await waitForOneHolderEach(l, 30_000)).values()) held.set(nodes[0]!, (held.get(nodes[0]!) ?? 0) + 1);
    return [...held.entries()].sort((a, b) => b[1] - a[1])[0]![0];
  }

  it('SIGKILL: back after 1 s, then 2 s for a second crash within a minute; the node owns addresses again; state.json counts the restarts', async () => {
    const l = lab!;
    const node = await busiestNode(l);
    const slot = `speaker ${node}`;
    const owned = [...(await vipHolders(l)).entries()].filter(([, n]) => n[0] === node).map(([a]) => a).sort();
    const figures: string[] = [];
    for (const [restart, delayMs] of [[1, 1000], [2, 2000]] as const) {
      const old = l.speakers.get(node)!;
      const next = l.supervisor.nextStart(slot);
      old.signal('SIGKILL');
      const exit = await old.exited;
      const diedAt = Date.now();
      const again = await next;
      const waited = Date.now() - diedAt;
      assert.equal(exit.signal, 'SIGKILL');
      assert.notEqual(again.pid, old.pid);
      assert.equal(l.speakers.get(node), again, 'the lab\'s speaker map follows the restart');
      // the timer cannot fire early; how much later it fires is the machine's business (printed)
      assert.ok(waited >= delayMs - 50, `restart ${restart} waited ${waited} ms, the back-off is ${delayMs} ms`);
      const r = l.supervisor.record(slot);
      assert.deepEqual([r.restarts, r.lastExit, r.backOffMs, r.nextRestartAt], [restart, 'killed by SIGKILL', delayMs, null]);
      assert.ok(lines.some((x) => x.startsWith(`${slot} killed by SIGKILL after `) && x.endsWith(`; restart ${restart} in ${delayMs / 1000}s`)), lines.join('\n'));
      assert.ok(lines.includes(`${slot} restarted (restart ${restart}, pid ${again.pid})`), lines.join('\n'));
      const backAt = Date.now();
      await waitFor(`${node} to own ${owned.join(', ')} again`, async () => {
        const h = await vipHolders(l);
        return owned.every((a) => h.get(a)?.join() === node);
      }, { timeoutMs: 30_000, intervalMs: 100, describe: async () => Object.fromEntries(await vipHolders(l)) });
      figures.push(`restart ${restart}: back ${waited} ms after the kill (back-off ${delayMs} ms), owning its ${owned.length} addresses again ${Date.now() - backAt} ms later`);
    }
    await l.writeState();
    const state = JSON.parse(readFileSync(l.statePath, 'utf8')) as LabState;
    const c = state.components[slot]!;
    assert.deepEqual([c.status, c.restarts, c.lastExit, c.backOffMs], ['running', 2, 'killed by SIGKILL', 2000]);
    assert.equal(c.pid, l.speakers.get(node)!.pid);
    assert.equal(state.components.allocator?.restarts, 0);
    for (const f of figures) console.log(`      ${node} ${f}`);
  });
});
