import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkAddress } from '../../lab/check.js';
import { apiRequest } from '../../lab/kube-rest.js';
import { startLab, type Lab } from '../../lab/lab.js';
import { SAMPLE_NAMESPACE } from '../../lab/samples.js';
import { KERNEL_TABLE } from '../../speaker/kernel/ruleset.js';
import { waitFor } from '../helpers/wait.js';
import {
  canonical, CONNECTIONS, endpointsWroteTo, flowsOf, holderOf, holdConnections, lossDiagnosis, PORT, portOf, protocolOf, takenOverFrom, TICK_PORT,
  unwatchEndpointWrites, watchEndpointWrites, type Flow,
} from './helpers-kernel-lab.js';
import { hideHostAddressesFromLab } from './helpers-resilience.js';

// Kernel mode through real speakers (issue 19): the lab (3 nodes, allocator, one `fulcrum
// speaker` each) with a Service annotated `fulcrum-lb.io/data-plane: kernel` (TCP echo on the
// lab pods, externalTrafficPolicy Cluster). Every candidate node holds the nftables rules, the
// owner's proxy does not listen on the port, the client is answered, and 50 connections are
// held open through the owner's link going down (also over IPv6 and UDP, on a dual-stack Service
// with a TCP and a UDP port), its speaker's SIGKILL, and a SIGTERM handoff.
// Every flow whose endpoint is still there survives: through a link down all but those to the
// pod on the cut node; through a SIGKILL all but those to the pod on the killed speaker's node,
// which keeps the VIP on lo until its speaker restarts (packets from the VIP are martians there);
// with the speaker restarted at once, as a kubelet does, all 50, those included (the address may
// go back to it: a second takeover); through a SIGTERM all 50.
// Server-first too: the Service's second port goes to the pods' `tick` port (a banner on accept,
// then a line every 100 ms, and an echo). Through a link down and a SIGKILL, the endpoints write
// first after the takeover: the test waits until each surviving flow's endpoint packet has
// reached the new owner (a probe table there records them), and only then does the client
// write; its echo and a tick after it must come (the new owner drops the endpoint's packets that
// no flow knows until the client's makes the entry, and the endpoint retransmits).
// externalTrafficPolicy Local (a third Service): the owner forwards only to its own pod, so a
// link down takes every flow's endpoint with it and none can survive. Its speaker dying is
// another matter: the node and its pod keep running, and the new owner hands the flows it does
// not know to that node (a SIGTERM's handoff; after a SIGKILL, the Local kernel-mode ports alone),
// whose conntrack entries still DNAT them. All 50 must survive both, client-first and server-first.
const PREFIX = 'fkw';
const NAME = 'echo-kernel';
/** TCP and UDP echo, both families. */
const DUAL_NAME = 'echo-kernel-dual';
/** TCP echo and tick, externalTrafficPolicy Local. */
const LOCAL_NAME = 'echo-kernel-local';
function report(what: string, lost: readonly number[], total: number, extra = ''): void {
  console.log(`    kernel mode, ${what}: survived/total ${total - lost.length}/${total}${extra}`);
}
describe('kernel mode e2e: the lab with 3 speakers, a data-plane: kernel Service', function () {
  this.timeout(240_000);
  let lab: Lab | undefined;
  let stateDir: string | undefined;
  let address: string;
  let dual: { v4: string; v6: string };
  let local: string;
  const children: ChildProcess[] = [];

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('    (kernel mode lab e2e skipped: needs root for network namespaces)');
      this.skip();
    }
    stateDir = mkdtempSync(join(tmpdir(), `fulcrum-${PREFIX}-`));
    lab = await startLab({ prefix: PREFIX, nodes: 3, stateDir, speakerArgs: ['--data-plane-kernel', 'auto'], componentEnv: { FULCRUM_LOG_LEVEL: 'info' } });
    await hideHostAddressesFromLab(lab);
    const echoPorts = [{ name: 'echo', port: PORT, targetPort: 'echo', protocol: 'TCP' }, { name: 'tick', port: TICK_PORT, targetPort: 'tick', protocol: 'TCP' }];
    const kernelServices: [string, Record<string, unknown>][] = [
      [NAME, { externalTrafficPolicy: 'Cluster', ports: echoPorts }],
      [DUAL_NAME, { externalTrafficPolicy: 'Cluster', ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'], ports: [echoPorts[0], { name: 'echo-udp', port: PORT, targetPort: 'echo-udp', protocol: 'UDP' }] }],
      [LOCAL_NAME, { externalTrafficPolicy: 'Local', ports: echoPorts }],
    ];
    for (const [name, spec] of kernelServices) {
      await apiRequest(lab.apiTarget, 'POST', `/api/v1/namespaces/${SAMPLE_NAMESPACE}/services`, {
        apiVersion: 'v1', kind: 'Service',
        metadata: { name, namespace: SAMPLE_NAMESPACE, annotations: { 'fulcrum-lb.io/data-plane': 'kernel' } },
        spec: { type: 'LoadBalancer', selector: { app: 'web' }, ...spec },
      });
    }
    const l = lab;
    local = await waitFor('an address on the Local kernel-mode Service', async () => (await l.services()).find((s) => s.name === LOCAL_NAME)?.addresses[0], { timeoutMs: 30_000, intervalMs: 250 });
    address = await waitFor('an address on the kernel-mode Service', async () => (await l.services()).find((s) => s.name === NAME)?.addresses[0], { timeoutMs: 30_000, intervalMs: 250 });
    dual = await waitFor('both addresses on the dual-stack kernel-mode Service', async () => {
      const a = (await l.services()).find((s) => s.name === DUAL_NAME)?.addresses ?? [];
      const v4 = a.find((x) => !x.includes(':'));
      const v6 = a.find((x) => x.includes(':'));
      return v4 && v6 ? { v4, v6 } : undefined;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    assert.deepEqual(await lab.waitForSpeakers(30_000), [], 'every speaker ready');
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await lab?.stop();
    // FULCRUM_KERNEL_LAB_LOGS=DIR keeps the component logs for a post-mortem.
    if (stateDir && process.env.FULCRUM_KERNEL_LAB_LOGS) cpSync(join(stateDir, 'logs'), process.env.FULCRUM_KERNEL_LAB_LOGS, { recursive: true });
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('every node holds the rules, the owner does not listen on the port, and the client is answered', async () => {
    const l = lab!;
    const owner = await holderOf(l, address);
    const map = `m_${address.replace(/\./g, '_')}_${PORT}_tcp`;
    for (const n of l.topology.nodes) {
      const listed = await waitFor(`${n.name} to hold the kernel rules of ${address}`, async () => {
        const r = await l.topology.exec(n.namespace, 'nft', ['list', 'table', 'inet', KERNEL_TABLE]);
        return r.stdout.includes(`map @${map}`) ? r.stdout : undefined;
      }, { timeoutMs: 10_000, intervalMs: 100 });
      assert.match(listed, new RegExp(`ip daddr ${address.replace(/\./g, '\\.')} tcp dport ${PORT} fib daddr type local dnat ip to jhash`));
    }
    const listening = await l.topology.exec(l.topology.node(owner).namespace, 'ss', ['-Hltn', `sport = :${PORT}`]);
    assert.ok(!listening.stdout.includes(`${address}:${PORT}`), `the owner's proxy must not listen on ${address}:${PORT}: ${listening.stdout}`);
    const r = await waitFor('the client to be answered', async () => {
      const x = await checkAddress(l.topology, 'tcp-echo', address, PORT);
      return x.ok ? x : undefined;
    }, { timeoutMs: 10_000, intervalMs: 200 });
    assert.ok(r.ok, r.detail);
  });

  /**
   * Server-first: waits until the endpoint of every flow in `survivors` (client ports) has
   * written to the new owner, before the client writes; returns the text for the report.
   */
  async function serverFirst(next: string, flows: ReadonlyMap<number, { peerPort: number }>, survivors: readonly number[]): Promise<string> {
    const ms = await endpointsWroteTo(lab!, next, survivors.map((p) => flows.get(p)?.peerPort ?? p));
    return `; the endpoints of the other ${survivors.length} wrote to ${next} first (all of them within ${ms} ms of the takeover being seen)`;
  }

  /** The owner's link down with CONNECTIONS flows held: every flow whose endpoint is not on the cut node survives. */
  async function linkDown(what: string, target: string, flow: Flow): Promise<void> {
    const l = lab!;
    const protocol = protocolOf(flow);
    const port = portOf(flow);
    const owner = await holderOf(l, target);
    if (flow === 'tick') await watchEndpointWrites(l, target);
    const client = await holdConnections(l, target, children, flow);
    const flows = await flowsOf(l, owner, target, protocol, port);
    const endpoints = new Map([...flows].map(([p, f]) => [p, f.endpoint]));
    const v6 = target.includes(':');
    const ownPods = new Set(l.pods.filter((p) => p.nodeName === owner).map((p) => canonical(v6 ? p.plan.ipv6 : p.plan.ipv4)));
    const doomed = client.ports.filter((p) => ownPods.has(endpoints.get(p) ?? ''));
    const t0 = Date.now();
    await l.topology.setNodeLink(owner, 'down');
    try {
      const next = await takenOverFrom(l, target, owner);
      console.log(`    ${what}: ${next} took ${target} over in ${Date.now() - t0} ms`);
      const first = flow === 'tick' ? await serverFirst(next, flows, client.ports.filter((p) => !doomed.includes(p))) : '';
      const { lost, slowestMs } = await client.check();
      const slowest = slowestMs === undefined ? '' : `; the slowest echo and tick came ${slowestMs} ms after the client wrote`;
      report(what, lost, CONNECTIONS, ` (${doomed.length} to the pod on the crashed node ${owner})${first}${slowest}${await lossDiagnosis(l, next, target, lost, protocol, port)}`);
      const unexpected = lost.filter((p) => !doomed.includes(p));
      assert.deepEqual(unexpected, [], `flows lost whose endpoint was on a surviving node: ${unexpected.map((p) => `${p}→${endpoints.get(p)}`).join(' ')}`);
    } finally {
      client.child.kill('SIGKILL');
      await l.topology.setNodeLink(owner, 'up');
      if (flow === 'tick') await unwatchEndpointWrites(l);
    }
    assert.deepEqual(await l.waitForSpeakers(30_000), [], 'every speaker ready again');
  }

  it(`link down: ${CONNECTIONS} connections through the owner's crash (flows to its own pod are lost with it)`, () => linkDown('link down', address, 'tcp'));

  it(`link down, server-first: ${CONNECTIONS} connections whose endpoints write first after the takeover`, () => linkDown('server-first link down', address, 'tick'));

  it(`link down, IPv6: ${CONNECTIONS} TCP connections to the dual-stack Service's IPv6 address`, () => linkDown('link down, IPv6 TCP', dual.v6, 'tcp'));

  it(`link down, UDP: ${CONNECTIONS} UDP flows (a connected socket each) to the dual-stack Service's IPv4 address`, () => linkDown('link down, UDP', dual.v4, 'udp'));

  /**
   * The owner's speaker SIGKILLed with CONNECTIONS flows held: every flow whose endpoint is not on
   * its node survives. `restarted`: the speaker is started again once the address has moved, as a
   * kubelet restarts a crashed container, and the client writes once every speaker is ready: the
   * restarted one takes the stale VIP off lo, so the flows to its node's pod must survive too.
   */
  async function sigkill(what: string, flow: 'tcp' | 'tick', restarted = false): Promise<void> {
    const l = lab!;
    const port = portOf(flow);
    const owner = await holderOf(l, address);
    if (flow === 'tick') await watchEndpointWrites(l, address);
    const client = await holdConnections(l, address, children, flow);
    const flows = await flowsOf(l, owner, address, 'tcp', port);
    const endpoints = new Map([...flows].map(([p, f]) => [p, f.endpoint]));
    const ownPods = new Set(l.pods.filter((p) => p.nodeName === owner).map((p) => p.plan.ipv4));
    const onOwner = client.ports.filter((p) => ownPods.has(endpoints.get(p) ?? ''));
    const speaker = l.speakers.get(owner)!;
    speaker.signal('SIGKILL');
    await speaker.exited;
    let started = false;
    let back: string | undefined;
    try {
      const next = await takenOverFrom(l, address, owner);
      if (restarted) {
        l.startSpeaker(owner);
        started = true;
        assert.deepEqual(await l.waitForSpeakers(30_000), [], 'every speaker ready again before the client writes');
        // The returning node may take the address back (the election prefers it): a second takeover, which the flows must survive as well.
        back = await holderOf(l, address);
      }
      const first = flow === 'tick' ? await serverFirst(next, flows, client.ports.filter((p) => !onOwner.includes(p))) : '';
      const { lost, slowestMs } = await client.check();
      const slowest = slowestMs === undefined ? '' : `; the slowest echo and tick came ${slowestMs} ms after the client wrote`;
      const lostOnOwner = lost.filter((p) => onOwner.includes(p));
      const why = restarted ? `whose speaker was restarted; the address then on ${back}` : 'whose node keeps the stale VIP on lo';
      report(what, lost, CONNECTIONS, ` (${lostOnOwner.length} of the ${onOwner.length} to the pod on ${owner}, ${why})${first}${slowest}${await lossDiagnosis(l, next, address, lost, 'tcp', port)}`);
      if (restarted) assert.deepEqual(lost, [], 'every flow survives once the crashed speaker is back');
      else assert.deepEqual(lost.filter((p) => !onOwner.includes(p)), [], 'no flow to a pod on another node is lost');
    } finally {
      client.child.kill('SIGKILL');
      if (!started) l.startSpeaker(owner);
      if (flow === 'tick') await unwatchEndpointWrites(l);
    }
    assert.deepEqual(await l.waitForSpeakers(30_000), [], 'every speaker ready again');
  }

  it(`SIGKILL of the owner's speaker: ${CONNECTIONS} connections keep working after the takeover`, () => sigkill('SIGKILL', 'tcp'));

  it(`SIGKILL of the owner's speaker, server-first: ${CONNECTIONS} connections whose endpoints write first after the takeover`, () => sigkill('server-first SIGKILL', 'tick'));

  it(`SIGKILL of the owner's speaker, restarted as a kubelet would: all ${CONNECTIONS} connections, those to its node's pod included, keep working`, () => sigkill('SIGKILL, speaker restarted', 'tcp', true));

  /**
   * Local: the owner's speaker dies (SIGKILL) or stops (SIGTERM) with CONNECTIONS flows held, all
   * to its node's pod; the new owner hands them to that node, and every one survives.
   */
  async function localSpeakerGone(what: string, flow: 'tcp' | 'tick', signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const l = lab!;
    const owner = await holderOf(l, local);
    const client = await holdConnections(l, local, children, flow);
    const flows = await flowsOf(l, owner, local, 'tcp', portOf(flow));
    const ownPod = l.pods.find((p) => p.nodeName === owner)?.plan.ipv4;
    assert.deepEqual(client.ports.filter((p) => flows.get(p)?.endpoint !== ownPod), [], `Local: every flow to the owner's own pod ${ownPod}`);
    assert.ok(client.ports.every((p) => flows.get(p)?.peerPort === p), 'Local: no SNAT, the pod sees the client\'s own port');
    const speaker = l.speakers.get(owner)!;
    speaker.signal(signal);
    try {
      const exit = await speaker.exited;
      if (signal === 'SIGTERM') assert.equal(exit.code, 0, `exit ${exit.code ?? exit.signal}: ${speaker.output().slice(-500)}`);
      const t0 = Date.now();
      const next = await takenOverFrom(l, local, owner);
      const { lost, slowestMs } = await client.check();
      const slowest = slowestMs === undefined ? '' : `; the slowest echo and tick came ${slowestMs} ms after the client wrote`;
      report(what, lost, CONNECTIONS, ` (all to the pod on ${owner}; ${next} took ${local} over, seen ${Date.now() - t0} ms after the speaker exited, and handed them to ${owner})${slowest}`);
      assert.deepEqual(lost, [], `every flow survives: the new owner ${next} hands them to ${owner}, whose pod still serves`);
    } finally {
      client.child.kill('SIGKILL');
      l.startSpeaker(owner);
    }
    assert.deepEqual(await l.waitForSpeakers(30_000), [], 'every speaker ready again');
  }

  it(`Local, SIGKILL of the owner's speaker: ${CONNECTIONS} connections to its node's pod keep working, handed to that node by the new owner`, () => localSpeakerGone('Local, SIGKILL', 'tcp', 'SIGKILL'));

  it(`Local, SIGKILL of the owner's speaker, server-first: ${CONNECTIONS} tick connections keep working`, () => localSpeakerGone('Local, server-first SIGKILL', 'tick', 'SIGKILL'));

  it(`Local, SIGTERM handoff: ${CONNECTIONS} connections keep working after the owner's speaker stops`, () => localSpeakerGone('Local, SIGTERM handoff', 'tcp', 'SIGTERM'));

  it(`SIGTERM handoff: ${CONNECTIONS} connections keep working after the owner's speaker stops`, async () => {
    const l = lab!;
    const owner = await holderOf(l, address);
    const client = await holdConnections(l, address, children);
    const speaker = l.speakers.get(owner)!;
    speaker.signal('SIGTERM');
    try {
      const exit = await speaker.exited;
      assert.equal(exit.code, 0, `exit ${exit.code ?? exit.signal}: ${speaker.output().slice(-500)}`);
      const next = await takenOverFrom(l, address, owner);
      const { lost } = await client.check();
      report('SIGTERM handoff', lost, CONNECTIONS, await lossDiagnosis(l, next, address, lost));
      assert.deepEqual(lost, [], 'every connection survives the handoff');
    } finally {
      client.child.kill('SIGKILL');
      l.startSpeaker(owner);
    }
  });
});
