import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkAddress, ownerSeenByClient, speakerReadyz } from '../../lab/check.js';
import { startLab, type Lab, type LabService } from '../../lab/lab.js';
import { sampleCheckCount } from '../../lab/samples.js';
import { waitFor } from '../helpers/wait.js';
import { answersFor } from './helpers-probes.js';
import { KERNEL_TABLE } from '../../speaker/kernel/ruleset.js';
import { hideHostAddressesFromLab, nodeByMac, speakerMetrics, vipHolders, waitForOneHolderEach } from './helpers-resilience.js';

async function nodesHolding(lab: Lab, address: string): Promise<string[]> {
  return (await vipHolders(lab)).get(address) ?? [];
}

// The speaker through the whole lab: 3 nodes, allocator and one `fulcrum speaker` per node.
const PREFIX = 'fle';

function addressOf(svcs: LabService[], name: string, family: 4 | 6 = 4): string {
  const a = svcs.find((s) => s.name === name)?.addresses.find((x) => x.includes(':') === (family === 6));
  assert.ok(a, `${name} has an IPv${family} address`);
  return a;
}

describe('speaker e2e: the lab with 3 speakers', function () {
  this.timeout(120_000);
  let lab: Lab;
  let stateDir: string;
  let svcs: LabService[];

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('    (speaker e2e skipped: needs root for network namespaces)');
      this.skip();
    }
    stateDir = mkdtempSync(join(tmpdir(), 'fulcrum-speaker-'));
    lab = await startLab({ prefix: PREFIX, nodes: 3, stateDir });
    await hideHostAddressesFromLab(lab);
    svcs = await lab.waitForAddresses(30_000);
  });

  after(async () => {
    await lab?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('every sample Service answers on each of its addresses from the client (IPv4 and IPv6)', async () => {
    const rows = await waitFor('every sample Service to answer', async () => {
      const r = await lab.check();
      return r.every((x) => x.result.startsWith('ok')) ? r : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500, describe: () => lab.check() });
    assert.ok(rows.some((r) => r.address.includes('[2001:db8::')), 'an IPv6 address was checked');
    assert.equal(rows.length, sampleCheckCount(), 'one check per address and port');
  });

  it('kernel mode is on by default, yet no node loads its table while no Service asks for it', async () => {
    for (const n of lab.topology.nodes) {
      // The kernel-mode gauges exist only where kernel mode started (KernelPorts runs).
      await waitFor(`${n.name}: kernel mode enabled (fulcrum_kernel_ports), no port held`, async () => /^fulcrum_kernel_ports\{state="held"\} 0$/m.test(await speakerMetrics(lab, n.name).catch(() => '')), {
        timeoutMs: 15_000,
        intervalMs: 200,
        describe: async () => (await speakerMetrics(lab, n.name).catch((e: Error) => e.message)).split('\n').filter((l) => l.startsWith('fulcrum_kernel')),
      });
      const tables = (await lab.topology.exec(n.namespace, 'nft', ['list', 'tables'])).stdout;
      assert.doesNotMatch(tables, new RegExp(KERNEL_TABLE), `${n.name} holds no ${KERNEL_TABLE} table (its nat chains would turn conntrack on): ${tables}`);
    }
  });

  it("the client's neighbour entry for each address is the MAC of the one node that holds it, and no other node answers ARP/NDP for it (capture on the bridge)", async () => {
    await waitForOneHolderEach(lab);
    const capture = await lab.topology.captureNeighbourTraffic();
    try {
      const client = lab.topology.client.namespace;
      const holderOf = new Map<string, string>();
      for (const s of svcs) {
        for (const address of s.addresses) {
          const holders = await nodesHolding(lab, address);
          assert.equal(holders.length, 1, `${s.name} ${address}: exactly one node holds it (${holders.join(', ')})`);
          holderOf.set(address, holders[0]!);
          // Forget the entry so the client asks again while the capture runs.
          await lab.topology.exec(client, 'ip', ['neigh', 'flush', 'to', address]);
          // One echo request makes the client resolve the address again (the owner's kernel answers the ping).
          await lab.topology.exec(client, 'ping', ['-c', '1', '-W', '2', address]);
          const seen = await waitFor(`the client to resolve ${address}`, () => ownerSeenByClient(lab.topology, address), { timeoutMs: 5_000 });
          assert.equal(seen, holders[0], `${s.name} ${address}: the client sees the holder's MAC`);
        }
      }
      const macs = nodeByMac(lab);
      for (const [address, holder] of holderOf) {
        const answers = await waitFor(`an answer for ${address} on the bridge`, () => {
          const a = answersFor(capture.events(), address, macs);
          return a.length > 0 ? a : undefined;
        }, { timeoutMs: 5_000 });
        const others = answers.filter((a) => a.node !== holder);
        assert.deepEqual(others, [], `${address}: only ${holder} answers (saw ${answers.map((a) => a.node).join(', ')})`);
      }
    } finally {
      await capture.stop();
    }
  });

  it('ETP Local: only the node with the ready local endpoint owns, and the backend sees the client address', async () => {
    const address = addressOf(svcs, 'web-local');
    const backendNode = lab.pods.find((p) => p.name === 'web-2')!.nodeName;
    assert.deepEqual(await nodesHolding(lab, address), [backendNode]);
    const r = await checkAddress(lab.topology, 'http', address, 80);
    assert.equal(r.detail, `web-2 saw ${lab.topology.client.ipv4}`, 'PROXY v1 carries the client address');
  });

  it('failover: SIGKILL of the owner speaker moves its address to another node, which answers', async () => {
    const address = addressOf(svcs, 'echo-tcp');
    const [owner] = await nodesHolding(lab, address);
    assert.ok(owner);
    lab.speakers.get(owner)!.signal('SIGKILL');
    await lab.speakers.get(owner)!.exited;
    const next = await waitFor('another node to answer for the address', async () => {
      const seen = await ownerSeenByClient(lab.topology, address);
      const r = await checkAddress(lab.topology, 'tcp-echo', address, 5678);
      return r.ok && seen && seen !== owner ? seen : undefined;
    }, { timeoutMs: 15_000, intervalMs: 100 });
    assert.notEqual(next, owner);
    // The survivors are ready, and count the killed one as a member (its Lease is fresh) that is not alive.
    for (const node of [...lab.speakers.keys()].filter((n) => n !== owner)) {
      const readyz = await waitFor(`${node} to see the killed speaker down`, async () => {
        const r = await speakerReadyz(lab.topology, node, 7473);
        return r.ready && r.text === 'ok: 2 of 3 members alive' ? r : undefined;
      }, { timeoutMs: 10_000, intervalMs: 100, describe: () => speakerReadyz(lab.topology, node, 7473) });
      assert.equal(readyz.text, 'ok: 2 of 3 members alive');
    }
    // The killed speaker left its VIP on lo; a restart removes it (stale) and re-elects.
    lab.startSpeaker(owner);
    await waitFor('the restarted speaker to take its address back', async () => (await nodesHolding(lab, address)).join() === owner, { timeoutMs: 15_000, intervalMs: 100 });
    assert.deepEqual(await lab.waitForSpeakers(10_000), [], 'every speaker ready again, seeing all three alive');
    assert.equal((await speakerReadyz(lab.topology, owner, 7473)).text, 'ok: 3 of 3 members alive');
  });

  it('SIGTERM: the speaker hands its addresses over, exits 0 and leaves nothing on lo', async () => {
    const address = addressOf(svcs, 'web');
    const [owner] = await nodesHolding(lab, address);
    assert.ok(owner);
    const p = lab.speakers.get(owner)!;
    p.signal('SIGTERM');
    const exit = await p.exited;
    assert.equal(exit.code, 0, `exit ${exit.code ?? exit.signal}: ${p.output().slice(-500)}`);
    const holders = await nodesHolding(lab, address);
    assert.equal(holders.length, 1);
    assert.notEqual(holders[0], owner);
    assert.ok((await checkAddress(lab.topology, 'http', address, 80)).ok);
    lab.startSpeaker(owner);
  });
});
