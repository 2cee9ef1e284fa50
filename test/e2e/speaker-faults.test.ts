import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkAddress } from '../../lab/check.js';
import { startLab, type Lab, type LabService } from '../../lab/lab.js';
import { waitFor } from '../helpers/wait.js';
import { hideHostAddressesFromLab, nodesHolding } from './speaker-lab-helpers.js';

// The liveness rule under faults: an API outage changes nothing (fail static); a node cut off
// from its peers' heartbeats but not from the API loses its addresses and withdraws.
const PREFIX = 'fle';
const PROBE_PORT = 7946;

async function owners(lab: Lab, svcs: LabService[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const s of svcs) for (const a of s.addresses) out[a] = (await nodesHolding(lab, a)).join(',');
  return out;
}

describe('speaker e2e: faults', function () {
  this.timeout(180_000);
  let lab: Lab;
  let stateDir: string;
  let svcs: LabService[];

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('    (speaker fault e2e skipped: needs root for network namespaces)');
      this.skip();
    }
    stateDir = mkdtempSync(join(tmpdir(), 'fulcrum-speaker-'));
    // Short Lease periods so the isolated node sees its peers' renewals within seconds.
    lab = await startLab({ prefix: PREFIX, nodes: 3, stateDir, speakerArgs: ['--lease-renew', '1s'] });
    await hideHostAddressesFromLab(lab);
    svcs = await lab.waitForAddresses(30_000);
    await waitFor('every sample Service to answer', async () => (await lab.check()).every((r) => r.result.startsWith('ok')) || undefined, { timeoutMs: 30_000, intervalMs: 500 });
  });

  after(async () => {
    await lab?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('API outage: while the API hangs for 10 s every request succeeds and no address moves', async () => {
    const before = await owners(lab, svcs);
    const echo = svcs.find((s) => s.name === 'echo-tcp')!.addresses[0]!;
    lab.api.faults.dropWatches();
    lab.api.faults.pause(10_000);
    const until = Date.now() + 10_000;
    let ok = 0;
    const failures: string[] = [];
    while (Date.now() < until) {
      const r = await checkAddress(lab.topology, 'tcp-echo', echo, 5678);
      if (r.ok) ok++;
      else failures.push(r.detail);
    }
    assert.deepEqual(failures, [], `${ok} requests succeeded`);
    assert.deepEqual(await owners(lab, svcs), before, 'no ownership change during the outage');
    // After the outage the caches resync and nothing moves either.
    await waitFor('the API to answer again', async () => (await lab.services()).length > 0 || undefined, { timeoutMs: 20_000, intervalMs: 200 });
    assert.deepEqual(await owners(lab, svcs), before);
  });

  it('partition: a node that cannot hear its peers (API still reachable) loses its addresses and withdraws', async () => {
    const before = await owners(lab, svcs);
    const victim = Object.values(before).find((o) => o !== '')!;
    const ns = lab.topology.node(victim).namespace;
    const table = `${PREFIX}part`;
    await lab.topology.run(ns, 'nft', ['-f', '-'], {
      input: `table inet ${table} {\n chain in { type filter hook input priority 0; udp dport ${PROBE_PORT} drop; }\n chain out { type filter hook output priority 0; udp dport ${PROBE_PORT} drop; }\n}\n`,
    });
    try {
      const moved = Object.entries(before).filter(([, o]) => o === victim).map(([a]) => a);
      await waitFor('the isolated node to hold nothing and its addresses to have one other holder', async () => {
        for (const a of moved) {
          const h = await nodesHolding(lab, a);
          if (h.length !== 1 || h[0] === victim) return undefined;
        }
        return true;
      }, { timeoutMs: 20_000, intervalMs: 200, describe: () => owners(lab, svcs) });
      for (const a of moved) {
        const s = svcs.find((x) => x.addresses.includes(a))!;
        const kind = s.name === 'echo-tcp' ? 'tcp-echo' : s.name === 'echo-udp' ? 'udp-echo' : 'http';
        const port = s.ports[0]!.port;
        await waitFor(`${s.name} ${a} to answer from its new owner`, async () => (await checkAddress(lab.topology, kind, a, port)).ok || undefined, { timeoutMs: 10_000, intervalMs: 200 });
      }
    } finally {
      await lab.topology.run(ns, 'nft', ['delete', 'table', 'inet', table]);
    }
    await waitFor('ownership to settle back after the network heals', async () => {
      const now = await owners(lab, svcs);
      return Object.values(now).every((o) => o !== '' && !o.includes(',')) || undefined;
    }, { timeoutMs: 20_000, intervalMs: 200, describe: () => owners(lab, svcs) });
  });
});
