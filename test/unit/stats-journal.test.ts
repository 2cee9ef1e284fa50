import assert from 'node:assert/strict';
import type { SpeakerPlan } from '../../speaker/plan/addresses.js';
import type { ProxyModel } from '../../speaker/proxy/model.js';
import { serviceKey } from '../../src/service/key.js';
import type { ProxyPort } from '../../speaker/proxy-port.js';
import { Ring } from '../../speaker/stats/journal.js';
import { SpeakerStats } from '../../speaker/stats/speaker-stats.js';
import type { HandoffEntry } from '../../speaker/vip/handoff.js';

/** A settable clock: the journal reads it for every record. */
const clock = (startMs = 1_000): { now: () => number; set: (ms: number) => void } => {
  let t = startMs;
  return { now: () => t, set: (ms) => (t = ms) };
};

describe('stats journal: the speaker ownership the page shows', () => {
  it('the ring keeps the latest items, newest first, and refuses a capacity below one', () => {
    const r = new Ring<number>(3);
    assert.deepEqual(r.newestFirst(), []);
    for (let i = 1; i <= 5; i++) r.push(i);
    assert.deepEqual(r.newestFirst(), [5, 4, 3]);
    assert.throws(() => new Ring(0), /incoherent ring capacity: 0/);
  });

  it('a takeover starts "since"; announcing again on other interfaces keeps it; a release and a takeover start it again', () => {
    const c = clock();
    const stats = new SpeakerStats('n1', { now: c.now });
    c.set(2_000);
    stats.served.set('192.0.2.10', ['eth0']);
    c.set(3_000);
    stats.served.set('192.0.2.10', ['eth0', 'eth1']);
    assert.equal(stats.journal.sinceMs('192.0.2.10'), 2_000);
    assert.deepEqual(stats.served.ownsAddress('192.0.2.10', 'eth1'), { announce: true }, 'the responder still reads the table');
    c.set(4_000);
    stats.served.delete('192.0.2.10');
    stats.served.delete('192.0.2.10'); // not served any more: nothing to record
    assert.equal(stats.journal.sinceMs('192.0.2.10'), undefined);
    c.set(5_000);
    stats.served.set('192.0.2.10', ['eth0']);
    assert.deepEqual(stats.journal.events().map((e) => [e.atMs, e.kind]), [[5_000, 'owned'], [4_000, 'released'], [2_000, 'owned']]);
  });

  it('a clean stop releases every address served', () => {
    const stats = new SpeakerStats('n1', { now: clock().now });
    stats.served.set('192.0.2.10', ['eth0']);
    stats.served.set('192.0.2.11', ['eth0']);
    stats.served.clear();
    assert.deepEqual(stats.journal.events().slice(0, 2).map((e) => [e.kind, e.address]).sort(), [['released', '192.0.2.10'], ['released', '192.0.2.11']]);
    assert.equal(stats.served.size, 0);
  });

  it('the proxy port passes calls on and remembers the model only once it was applied', async () => {
    const calls: string[] = [];
    let fail = false;
    const port: ProxyPort = {
      apply: async (m) => {
        calls.push(`apply ${m.frontends.length}`);
        if (fail) throw new Error('bind failed');
      },
      stop: async (ms) => void calls.push(`stop ${ms}`),
      drained: async (a) => void calls.push(`drained ${a}`),
    };
    const stats = new SpeakerStats('n1', { now: clock().now });
    const wrapped = stats.proxy(port);
    const one: ProxyModel = { workers: 1, frontends: [], backends: [{ name: 'b', balance: 'roundrobin', proxyProtocol: 'none', affinity: { clientIP: false, timeoutSeconds: 1 }, passiveEjection: { consecutiveFailures: 1, baseEjectMs: 1, maxEjectMs: 1 }, connectAttempts: 1, endpoints: [] }] };
    await wrapped.apply(one);
    fail = true;
    await assert.rejects(wrapped.apply({ workers: 1, frontends: [], backends: [] }), /bind failed/);
    await wrapped.drained('192.0.2.10');
    await wrapped.stop(500);
    assert.deepEqual(calls, ['apply 0', 'apply 0', 'drained 192.0.2.10', 'stop 500']);
    assert.equal(stats.read().model, one);
    assert.deepEqual(stats.journal.events().map((e) => [e.kind, e.address]), [['drained', '192.0.2.10']]);
  });

  it('handoffs are recorded after the port set them up, and say when nftables is missing', async () => {
    const forwarded: HandoffEntry[][] = [];
    const stats = new SpeakerStats('n1', { now: clock().now });
    let enabled = true;
    const wrapped = stats.handoff({ forward: async (entries) => void forwarded.push([...entries]), get enabled() { return enabled; } });
    await wrapped.forward([{ address: '192.0.2.10', to: '10.0.0.2' }], 36_500);
    enabled = false;
    await wrapped.forward([{ address: '192.0.2.11', to: '10.0.0.3' }], 36_500);
    assert.equal(forwarded.length, 2);
    const [second, first] = stats.journal.events();
    assert.match(first!.detail, /previous owner 10\.0\.0\.2 for 37 s/);
    assert.match(second!.detail, /nftables is unavailable here: its open connections get a reset/);
  });

  it('read() gives each owned address its interfaces, since and the Services of the last plan', () => {
    const c = clock(500);
    const stats = new SpeakerStats('n1', { now: c.now });
    c.set(800);
    stats.served.set('192.0.2.10', ['eth0']);
    const plan: SpeakerPlan = { owned: ['192.0.2.10'], addresses: new Map([['192.0.2.10', { address: '192.0.2.10', services: [serviceKey('shop', 'web')], pool: 'p', interfaces: ['eth0'], owner: { kind: 'elected', node: 'n1', candidates: ['n1'] } }]]) };
    assert.deepEqual(stats.read().ownership!.owned[0]!.services, [], 'no plan yet');
    stats.followPlan(() => plan);
    const r = stats.read();
    assert.deepEqual([r.program, r.node, r.startedMs], ['speaker', 'n1', 500]);
    assert.deepEqual(r.ownership!.owned, [{ address: '192.0.2.10', sinceMs: 800, interfaces: ['eth0'], services: ['shop/web'] }]);
  });
});
