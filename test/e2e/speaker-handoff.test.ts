import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseProbeOutput, type ProbeResult } from '../../lab/probe.js';
import { startLab, type Lab } from '../../lab/lab.js';
import { waitFor } from '../helpers/wait.js';
import { hideHostAddressesFromLab, vipHolders, waitForOneHolderEach } from './helpers-resilience.js';

// Open connections across a takeover from a node that is still running: the new owner forwards
// the packets of connections it does not know to the previous owner (nftables, dup), which keeps
// the address on lo while its proxy drains (speaker/vip/handoff.ts). Without that, the client
// gets a reset from the new owner as soon as it follows the gratuitous ARP.
const PREFIX = 'fho';
const PROBE = fileURLToPath(new URL('../../lab/probe.js', import.meta.url));
const HOLD_MS = 4_000;

describe('speaker e2e: open connections survive a takeover from a running owner (handoff)', function () {
  this.timeout(120_000);
  let lab: Lab;
  let stateDir: string;
  let address: string;

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('    (handoff e2e skipped: needs root for network namespaces)');
      this.skip();
    }
    stateDir = mkdtempSync(join(tmpdir(), 'fulcrum-handoff-'));
    lab = await startLab({ prefix: PREFIX, nodes: 3, stateDir });
    await hideHostAddressesFromLab(lab);
    const svcs = await lab.waitForAddresses(30_000);
    address = svcs.find((s) => s.name === 'echo-tcp')!.addresses[0]!;
    assert.deepEqual(await lab.waitForSpeakers(15_000), []);
    await waitForOneHolderEach(lab);
  });

  after(async () => {
    await lab?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  /** The node(s) with the address on lo. */
  const holders = async () => (await vipHolders(lab)).get(address) ?? [];

  /** A TCP echo connection from the client held for HOLD_MS, a line every 50 ms; resolves with the probe's result. */
  function holdConnection(): { connected: (node: string) => Promise<void>; result: Promise<ProbeResult> } {
    const run = lab.topology.exec(lab.topology.client.namespace, process.execPath, [PROBE, 'tcp', address, '5678', 'held', '--hold-ms', String(HOLD_MS), '--every-ms', '50'], { timeoutMs: HOLD_MS + 10_000 });
    const result = run.then((r) => {
      const parsed = parseProbeOutput(r.stdout);
      assert.ok(parsed, `probe output: ${r.stdout} ${r.stderr}`);
      return parsed;
    });
    // The proxy of `node` has the client's connection (ss in its namespace), so the takeover comes after it.
    const connected = (node: string) =>
      waitFor(`the client's connection on ${node}`, async () => {
        const ss = await lab.topology.exec(lab.topology.node(node).namespace, 'ss', ['-Htn', 'state', 'established', 'src', `${address}:5678`, 'dst', lab.topology.client.ipv4]);
        return ss.stdout.trim() !== '' || undefined;
      }, { timeoutMs: 5_000, intervalMs: 50 }).then(() => undefined);
    return { connected, result };
  }

  it('SIGTERM of the owner: the connection goes on through the new owner to the draining one, every line echoed', async () => {
    const [owner] = await holders();
    assert.ok(owner);
    const held = holdConnection();
    await held.connected(owner);
    const p = lab.speakers.get(owner)!;
    p.signal('SIGTERM');
    const next = await waitFor('another node to hold the address', async () => (await holders()).find((n) => n !== owner), { timeoutMs: 10_000, intervalMs: 50 });
    const r = await held.result;
    assert.equal(r.ok, true, `the held connection: ${JSON.stringify(r)} (new owner ${next})`);
    assert.equal(r.echoed, r.sent);
    assert.ok((r.sent ?? 0) >= 20, `sent ${r.sent}`);
    const exit = await p.exited;
    assert.equal(exit.code, 0);
    assert.deepEqual(await holders(), [next], 'the stopped node took its VIP off once drained');
  });

  it('the owner comes back and takes the address again: a connection open on the interim owner goes on too', async () => {
    await waitForOneHolderEach(lab);
    const [interim] = await holders();
    const original = [...lab.speakers.entries()].find(([, p]) => !p.running)?.[0];
    assert.ok(interim && original);
    const held = holdConnection();
    await held.connected(interim);
    lab.startSpeaker(original);
    await waitFor('the restarted speaker to take its address back', async () => (await holders()).includes(original) || undefined, { timeoutMs: 15_000, intervalMs: 50 });
    const r = await held.result;
    assert.equal(r.ok, true, `the held connection: ${JSON.stringify(r)}`);
    assert.equal(r.echoed, r.sent);
    await waitFor('the interim owner to take its VIP off once drained', async () => ((await holders()).join() === original ? true : undefined), { timeoutMs: 15_000, intervalMs: 100 });
    // a new connection after the move is served by the owner
    const fresh = await lab.topology.exec(lab.topology.client.namespace, process.execPath, [PROBE, 'tcp', address, '5678', 'new']);
    assert.equal(parseProbeOutput(fresh.stdout)?.ok, true, fresh.stdout);
  });
});
