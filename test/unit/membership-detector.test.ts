import assert from 'node:assert/strict';
import { FailureDetector, type MembershipChange, type Step } from '../../speaker/membership/detector.js';
import { DEFAULT_MEMBERSHIP_OPTIONS as O, membershipOptions, speakerMembershipOptions } from '../../speaker/membership/options.js';
import type { Packet, Update } from '../../speaker/membership/packet.js';
import { seededRandom } from '../../speaker/membership/prng.js';

/**
 * A few detectors on a manual clock, wired by a tiny network: packets take LATENCY_MS, a link
 * filter can drop them, a node can be crashed, frozen (its packets wait, then are handled in
 * order before its timers, as the transport does) or handle its packets late.
 */
const LATENCY_MS = 0.5;

interface Seen {
  readonly at: number;
  readonly observer: string;
  readonly change: MembershipChange;
}

class Net {
  now = 0;
  readonly detectors = new Map<string, FailureDetector>();
  readonly changes: Seen[] = [];
  readonly sent: { at: number; from: string; to: string; packet: Packet }[] = [];
  readonly crashed = new Set<string>();
  readonly frozenUntil = new Map<string, number>();
  /** Extra delay before a node handles each packet it receives (FIFO). */
  readonly inboundDelayMs = new Map<string, number>();
  /** false: the packet is lost. */
  link: (from: string, to: string, p: Packet) => boolean = () => true;
  #queue: { at: number; order: number; to: string; packet: Packet }[] = [];
  #order = 0;

  constructor(names: readonly string[], options = O) {
    names.forEach((n, i) => this.detectors.set(n, new FailureDetector(n, { now: 0, random: seededRandom(i + 1), options })));
    for (const d of this.detectors.values()) this.#apply(d.name, d.setPeers(names, 0));
    this.changes.length = 0; // the first peerUp burst is not a verdict
  }

  get(name: string): FailureDetector {
    return this.detectors.get(name)!;
  }

  /** A crashed node starts again as a new process: incarnation 0, every peer alive in its view. */
  restart(name: string): void {
    this.crashed.delete(name);
    const d = new FailureDetector(name, { now: this.now, random: seededRandom(1_000 + this.detectors.size), options: this.get(name).options });
    this.detectors.set(name, d);
    this.#apply(name, d.setPeers([...this.detectors.keys()], this.now));
  }

  run(untilMs: number): void {
    for (;;) {
      let next = Infinity;
      let who: string | undefined;
      for (const d of this.detectors.values()) {
        if (this.crashed.has(d.name)) continue;
        const t = Math.max(d.nextTickAt(), this.frozenUntil.get(d.name) ?? 0);
        if (t < next) [next, who] = [t, d.name];
      }
      const p = this.#queue[0];
      if (p && p.at <= next) [next, who] = [p.at, undefined];
      if (next > untilMs) break;
      this.now = Math.max(this.now, next);
      if (who !== undefined) {
        this.#apply(who, this.get(who).tick(this.now));
        continue;
      }
      this.#queue.shift();
      if (this.crashed.has(p!.to)) continue;
      const frozen = this.frozenUntil.get(p!.to) ?? 0;
      if (frozen > this.now) {
        this.#push(frozen, p!.to, p!.packet);
        continue;
      }
      this.#apply(p!.to, this.get(p!.to).receive(p!.packet, this.now));
    }
    this.now = untilMs;
  }

  /** Feeds one packet to a node now, as if it had just arrived. */
  deliver(to: string, packet: Packet): Step {
    const step = this.get(to).receive(packet, this.now);
    this.#apply(to, step);
    return step;
  }

  downVerdicts(about?: string): Seen[] {
    return this.changes.filter((c) => c.change.kind === 'peerDown' && (about === undefined || c.change.name === about));
  }

  #apply(from: string, step: Step): void {
    for (const change of step.changes) this.changes.push({ at: this.now, observer: from, change });
    for (const { to, packet } of step.send) {
      this.sent.push({ at: this.now, from, to, packet });
      if (!this.link(from, to, packet) || !this.detectors.has(to)) continue;
      this.#push(this.now + LATENCY_MS + (this.inboundDelayMs.get(to) ?? 0), to, packet);
    }
  }

  #push(at: number, to: string, packet: Packet): void {
    const e = { at, order: this.#order++, to, packet };
    let i = this.#queue.length;
    while (i > 0 && (this.#queue[i - 1]!.at > at || (this.#queue[i - 1]!.at === at && this.#queue[i - 1]!.order > e.order))) i--;
    this.#queue.splice(i, 0, e);
  }
}

const FIVE = ['n1', 'n2', 'n3', 'n4', 'n5'];
/** The longest a crash can take to be judged by a first-hand accuser: a round, the probe, the grace, the longest suspicion. */
const WORST_FIRST_HAND_MS = O.probeIntervalMs + O.probeTimeoutMs + O.accusationGraceMs + O.suspicionMaxMs;
const packet = (o: Partial<Packet> & Pick<Packet, 'type' | 'from'>): Packet => ({ incarnation: 0, seq: 0, target: '', updates: [], ...o });
const update = (o: Partial<Update> & Pick<Update, 'name' | 'state'>): Update => ({ incarnation: 0, by: '', ...o });

describe('FailureDetector: crash detection', () => {
  it('a crashed peer is declared dead by every other member, after a suspicion, not before', () => {
    const net = new Net(FIVE);
    net.run(1_000);
    assert.deepEqual(net.downVerdicts(), [], 'no verdict while everyone answers');
    net.crashed.add('n3');
    const crashAt = net.now;
    net.run(crashAt + 2_000);
    const verdicts = net.downVerdicts('n3');
    assert.deepEqual(verdicts.map((v) => v.observer).sort(), ['n1', 'n2', 'n4', 'n5'], 'every live member judged n3');
    assert.ok(verdicts.every((v) => v.change.kind === 'peerDown' && v.change.reason === 'dead'));
    const first = Math.min(...verdicts.map((v) => v.at)) - crashAt;
    assert.ok(first >= O.probeTimeoutMs + O.accusationGraceMs + O.suspicionMinMs - O.probeIntervalMs, `first verdict ${first} ms after the crash: not before the suspicion ran`);
    assert.ok(first <= WORST_FIRST_HAND_MS, `first verdict ${first} ms after the crash (at most ${WORST_FIRST_HAND_MS})`);
    assert.deepEqual(net.downVerdicts().filter((v) => v.change.kind === 'peerDown' && v.change.name !== 'n3'), [], 'nobody else is judged');
    for (const name of ['n1', 'n2', 'n4', 'n5']) assert.equal(net.get(name).stateOf('n3'), 'dead', name);
  });

  it('a suspicion goes public only after the accused had the grace period to answer privately', () => {
    const net = new Net(FIVE);
    net.run(1_000);
    net.crashed.add('n3');
    net.run(1_000 + WORST_FIRST_HAND_MS);
    const accusations = net.sent.filter((s) => s.at >= 1_000 && s.packet.type === 'gossip' && s.packet.updates.some((u) => u.name === 'n3' && u.state === 'suspect'));
    const first = accusations[0]!;
    assert.equal(first.to, 'n3', 'the first word of the suspicion goes to the accused alone');
    assert.equal(first.packet.target, 'n3', 'marked private');
    const firstPublic = accusations.find((s) => s.to !== 'n3')!;
    assert.ok(firstPublic.at - first.at >= O.accusationGraceMs, `public ${firstPublic.at - first.at} ms after the private accusation`);
  });

  it('indirect probes through other members save a peer whose direct path is lossy', () => {
    const net = new Net(['a', 'b', 'c', 'd']);
    // a and b cannot reach each other directly; both reach c and d.
    net.link = (from, to) => !((from === 'a' && to === 'b') || (from === 'b' && to === 'a'));
    net.run(10_000);
    assert.deepEqual(net.downVerdicts(), []);
    assert.equal(net.get('a').stateOf('b'), 'alive');
    assert.equal(net.get('b').stateOf('a'), 'alive');
    const viaHelpers = net.sent.filter((s) => s.packet.type === 'pingReq' && s.from === 'a' && s.packet.target === 'b');
    assert.ok(viaHelpers.length > 0, 'a asked helpers to probe b');
    assert.ok(viaHelpers.every((s) => s.to !== 'a' && s.to !== 'b'), 'a helper is never the prober or the target');
  });

  it('a lost datagram now and then (10 % on one link) causes no verdict', () => {
    const net = new Net(FIVE);
    const lose = seededRandom(99);
    net.link = (from, to) => !((from === 'n1' || to === 'n1') && lose() < 0.1);
    net.run(30_000);
    assert.deepEqual(net.downVerdicts(), []);
  });
});

describe('FailureDetector: Lifeguard local health', () => {
  it('a node that handles its packets late (acks after its own probe timeout) declares nobody dead', () => {
    const net = new Net(FIVE);
    // Everything n1 receives is handled 70 ms late: longer than the probe timeout (60 ms).
    net.inboundDelayMs.set('n1', O.probeTimeoutMs + 10);
    let maxHealth = 0;
    for (let t = 500; t <= 20_000; t += 500) {
      net.run(t);
      maxHealth = Math.max(maxHealth, net.get('n1').localHealth);
    }
    assert.deepEqual(net.downVerdicts(), [], 'no member is declared dead, by n1 or by the others');
    assert.ok(maxHealth > 0, 'n1 noticed that it is the slow side (local health above 0)');
    assert.ok(['n2', 'n3', 'n4', 'n5'].every((n) => net.get('n1').stateOf(n) !== 'dead'));
  });

  it('a frozen node (stall) judges nobody on the timers that ran out while it was not running', () => {
    const net = new Net(FIVE);
    net.run(1_000);
    // n1 is frozen for 2 s (SIGSTOP); what reaches it waits and is handled first when it resumes.
    net.frozenUntil.set('n1', 3_000);
    net.run(5_000);
    assert.deepEqual(net.downVerdicts().filter((v) => v.observer === 'n1'), [], 'n1 declared nobody dead');
    assert.ok(net.changes.some((c) => c.observer === 'n1' && c.change.kind === 'stalled' && c.change.lateMs > 1_000), 'n1 reported the stall');
    // The others saw a silent n1 for 2 s: they may take it out, and must take it back.
    assert.ok(['n2', 'n3', 'n4', 'n5'].every((n) => net.get(n).stateOf('n1') === 'alive'), 'n1 is alive again for everyone');
  });

  it('a node frozen with its cable pulled asks again before it judges the peer it suspected', () => {
    // Two nodes: a cannot count on isolation (one peer) to void its suspicion; only the stall guard can.
    const net = new Net(['a', 'b']);
    net.run(1_000);
    let bSilent = true;
    let aCutUntil = 0;
    net.link = (from, to) => !(bSilent && from === 'b') && !(to === 'a' && net.now < aCutUntil);
    while (net.get('a').stateOf('b') !== 'suspect') net.run(net.now + 1);
    // a suspects b from its own failed probe; now a stops for 2 s and hears nothing meanwhile,
    // while b comes back.
    bSilent = false;
    aCutUntil = net.now + 2_000;
    net.frozenUntil.set('a', aCutUntil);
    net.run(aCutUntil + 1_000);
    assert.deepEqual(net.downVerdicts('b'), [], 'nobody declared b dead: a pinged it again after the stall');
    assert.equal(net.get('a').stateOf('b'), 'alive');
  });
});

describe('FailureDetector: refutation and leave', () => {
  it('a suspected member refutes with a higher incarnation, and the accuser takes it back', () => {
    const net = new Net(['a', 'b', 'c']);
    const suspicion = packet({ type: 'gossip', from: 'a', updates: [update({ name: 'b', state: 'suspect', by: 'a' })] });
    const step = net.deliver('b', suspicion);
    assert.equal(net.get('b').incarnation, 1);
    const refutations = step.send.filter((o) => o.packet.updates.some((u) => u.name === 'b' && u.state === 'alive' && u.incarnation === 1));
    assert.ok(refutations.some((o) => o.to === 'a'), 'the accuser hears the refutation at once');
    // At the accuser: a suspicion of b at incarnation 0, then b's refutation.
    net.deliver('c', packet({ type: 'gossip', from: 'a', updates: [update({ name: 'b', state: 'suspect', by: 'a' })] }));
    assert.equal(net.get('c').stateOf('b'), 'suspect');
    net.deliver('c', packet({ type: 'gossip', from: 'b', incarnation: 1, updates: [update({ name: 'b', state: 'alive', incarnation: 1 })] }));
    assert.equal(net.get('c').stateOf('b'), 'alive');
    assert.equal(net.get('c').view().get('b')?.incarnation, 1);
    assert.deepEqual(net.downVerdicts(), []);
  });

  it('old news about us (an incarnation we already refuted) changes nothing but gets our word once', () => {
    const net = new Net(['a', 'b', 'c']);
    net.deliver('b', packet({ type: 'gossip', from: 'a', updates: [update({ name: 'b', state: 'suspect', by: 'a' })] }));
    const again = net.deliver('b', packet({ type: 'ping', from: 'c', target: 'b', seq: 7, updates: [update({ name: 'b', state: 'suspect', by: 'a' })] }));
    assert.equal(net.get('b').incarnation, 1, 'no second bump');
    assert.ok(again.send.some((o) => o.to === 'c' && o.packet.updates.some((u) => u.name === 'b' && u.incarnation === 1)), 'c is told');
    const third = net.deliver('b', packet({ type: 'ping', from: 'c', target: 'b', seq: 8, updates: [update({ name: 'b', state: 'suspect', by: 'a' })] }));
    assert.deepEqual(third.send.map((o) => o.packet.type), ['ack'], 'told once: only the ack');
  });

  it('a clean stop is known at once: every peer gets "left" and drops the node', () => {
    const net = new Net(FIVE);
    net.run(500);
    const step = net.get('n2').leave();
    assert.deepEqual(step.send.map((o) => o.to).sort(), ['n1', 'n3', 'n4', 'n5']);
    for (const o of step.send) net.deliver(o.to, o.packet);
    assert.deepEqual(net.downVerdicts('n2').map((v) => [v.observer, v.change.kind === 'peerDown' && v.change.reason]).sort(), [
      ['n1', 'left'],
      ['n3', 'left'],
      ['n4', 'left'],
      ['n5', 'left'],
    ]);
    assert.equal(net.get('n2').nextTickAt(), Infinity, 'the leaving detector is inert');
    assert.deepEqual(net.get('n2').tick(1_000).send, []);
  });
});

describe('FailureDetector: restart', () => {
  it('a restarted node refutes its dead verdict and learns at once who else is down', () => {
    const names = Array.from({ length: 12 }, (_, i) => `n${String(i).padStart(2, '0')}`);
    const net = new Net(names);
    net.run(1_000);
    net.crashed.add('n05');
    net.crashed.add('n07');
    net.run(3_000);
    assert.ok(names.every((n) => n === 'n05' || n === 'n07' || net.get(n).stateOf('n05') === 'dead'));
    net.restart('n05');
    net.run(3_000 + 2 * O.probeIntervalMs);
    assert.equal(net.get('n05').stateOf('n07'), 'dead', 'n05 knows n07 is down without probing it itself');
    net.run(3_500);
    assert.ok(names.every((n) => n === 'n05' || n === 'n07' || net.get(n).stateOf('n05') === 'alive'), 'n05 is alive again for everyone');
    assert.ok(net.get('n05').incarnation > 0);
  });
});

describe('FailureDetector: held down by a peer', () => {
  it('news that a peer holds us dead is refuted and reported once as declaredDown (the speaker announces its addresses again); a suspicion is not', () => {
    const net = new Net(FIVE);
    net.run(1_000);
    const suspect = net.deliver('n1', packet({ type: 'gossip', from: 'n2', updates: [update({ name: 'n1', state: 'suspect', by: 'n2' })] }));
    assert.deepEqual(suspect.changes, [], 'a suspicion alone moved nothing yet');
    const dead = net.deliver('n1', packet({ type: 'gossip', from: 'n3', updates: [update({ name: 'n1', state: 'dead', incarnation: net.get('n1').incarnation, by: 'n3' })] }));
    assert.deepEqual(dead.changes, [{ kind: 'declaredDown', by: 'n3' }]);
    assert.ok(dead.send.some((s) => s.packet.updates.some((u) => u.name === 'n1' && u.state === 'alive')), 'the refutation goes out');
    const again = net.deliver('n1', packet({ type: 'gossip', from: 'n4', updates: [update({ name: 'n1', state: 'dead', incarnation: 0, by: 'n3' })] }));
    assert.deepEqual(again.changes, [], 'old news of the same verdict is not reported again');
  });
});

describe('FailureDetector: isolation', () => {
  it('a node cut off from every peer withdraws (isolated) before it condemns anyone, then rejoins after the heal', () => {
    const net = new Net(FIVE);
    net.run(1_000);
    let cut = true;
    net.link = (from, to) => !(cut && (from === 'n1' || to === 'n1'));
    net.run(3_000);
    const n1 = net.changes.filter((c) => c.observer === 'n1');
    const isolatedAt = n1.find((c) => c.change.kind === 'isolated')?.at;
    assert.ok(isolatedAt !== undefined && isolatedAt - 1_000 <= O.isolationMs + O.probeIntervalMs, `n1 isolated ${isolatedAt === undefined ? 'never' : `${isolatedAt - 1_000} ms after the cut`}`);
    assert.deepEqual(n1.filter((c) => c.change.kind === 'peerDown'), [], 'n1 condemned nobody');
    assert.equal(net.get('n1').standing.kind, 'isolated');
    assert.ok(['n2', 'n3', 'n4', 'n5'].every((n) => net.get(n).stateOf('n1') === 'dead'), 'the others took n1 out');
    cut = false;
    net.run(4_000);
    assert.equal(net.get('n1').standing.kind, 'member');
    assert.ok(net.changes.some((c) => c.observer === 'n1' && c.change.kind === 'rejoined'));
    assert.ok(['n2', 'n3', 'n4', 'n5'].every((n) => net.get(n).stateOf('n1') === 'alive'), 'n1 is back for everyone');
  });

  it('the survivor of a two-node cluster is not isolated when its peer crashes: it takes over', () => {
    // A suspicion longer than isolationMs: only isolationMinPeers keeps the survivor a member.
    const net = new Net(['a', 'b'], membershipOptions({ suspicionMinMs: 1_000, suspicionMaxMs: 1_000 }));
    net.run(1_000);
    net.crashed.add('b');
    net.run(4_000);
    assert.deepEqual(net.changes.filter((c) => c.change.kind === 'isolated'), []);
    assert.equal(net.get('a').standing.kind, 'member');
    assert.deepEqual(net.downVerdicts('b').map((v) => v.observer), ['a']);
  });

  it('a two-node partition heals: members held dead are still asked in the rotation, and come back', () => {
    const net = new Net(['a', 'b']);
    net.run(1_000);
    let cut = true;
    net.link = () => !cut;
    net.run(3_000);
    assert.equal(net.get('a').stateOf('b'), 'dead');
    assert.equal(net.get('b').stateOf('a'), 'dead');
    cut = false;
    net.run(3_500);
    assert.equal(net.get('a').stateOf('b'), 'alive');
    assert.equal(net.get('b').stateOf('a'), 'alive');
  });
});

describe('FailureDetector: setPeers', () => {
  const rows: Array<{ name: string; before: string[]; after: string[]; want: MembershipChange[] }> = [
    { name: 'a new peer starts alive', before: ['a', 'b'], after: ['a', 'b', 'c'], want: [{ kind: 'peerUp', name: 'c' }] },
    { name: 'a removed peer that was up goes down as "removed"', before: ['a', 'b', 'c'], after: ['a', 'b'], want: [{ kind: 'peerDown', name: 'c', reason: 'removed' }] },
    { name: 'the same list changes nothing', before: ['a', 'b', 'c'], after: ['c', 'b', 'a'], want: [] },
    { name: 'our own name is never a peer', before: ['b'], after: ['a', 'b'], want: [] },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const d = new FailureDetector('a', { now: 0, random: seededRandom(1) });
      d.setPeers(row.before, 0);
      const after = [...row.after];
      assert.deepEqual(d.setPeers(after, 10).changes, row.want, `setPeers(${JSON.stringify(row.after)})`);
      assert.deepEqual(after, row.after, 'input not mutated');
    });
  }

  it('a removed dead peer changes nothing; added again, it starts alive', () => {
    const net = new Net(['a', 'b', 'c']);
    net.run(500);
    net.crashed.add('c');
    net.run(2_000);
    assert.equal(net.get('a').stateOf('c'), 'dead');
    assert.deepEqual(net.get('a').setPeers(['a', 'b'], net.now).changes, []);
    assert.equal(net.get('a').stateOf('c'), undefined);
    assert.deepEqual(net.get('a').setPeers(['a', 'b', 'c'], net.now).changes, [{ kind: 'peerUp', name: 'c' }]);
  });

  it('a new peer is "unheard" until it answers or is judged: then it is heard of, and a removed one is forgotten', () => {
    const net = new Net(['a', 'b', 'c']);
    assert.deepEqual(net.get('a').unheardPeers(), ['b', 'c'], 'added alive by assumption');
    net.crashed.add('c');
    net.run(O.probeIntervalMs * 2);
    assert.ok(!net.get('a').unheardPeers().includes('b'), 'b talked');
    assert.ok(net.get('a').unheardPeers().includes('c') || net.get('a').stateOf('c') === 'suspect', 'c has not: unheard, or suspected already');
    net.run(2_000);
    assert.equal(net.get('a').stateOf('c'), 'dead');
    assert.deepEqual(net.get('a').unheardPeers(), [], 'a verdict settles c');
    net.get('a').setPeers(['a', 'b'], net.now);
    net.crashed.delete('c');
    net.get('a').setPeers(['a', 'b', 'c'], net.now);
    assert.deepEqual(net.get('a').unheardPeers(), ['c'], 'added again: unheard again');
  });

  it('a peer reached only through a helper (the direct link drops) is heard of by the relayed answer', () => {
    const net = new Net(['a', 'b', 'c']);
    net.link = (from, to) => !((from === 'a' && to === 'c') || (from === 'c' && to === 'a'));
    net.run(2_000);
    assert.equal(net.get('a').stateOf('c'), 'alive');
    assert.ok(net.sent.some((s) => s.from === 'a' && s.packet.type === 'pingReq' && s.packet.target === 'c'), 'a asked a helper');
    assert.deepEqual(net.get('a').unheardPeers(), []);
  });

  it("the speaker's flags give the defaults, scale with the probe interval, and refuse a fail-after with no suspicion time", () => {
    assert.deepEqual(speakerMembershipOptions(O.probeIntervalMs, 240), O, '--probe-interval 50ms --fail-after 240ms are the defaults');
    const slow = speakerMembershipOptions(100, 300);
    assert.equal(slow.probeTimeoutMs, 2 * O.probeTimeoutMs);
    assert.equal(slow.probeTimeoutMs + slow.accusationGraceMs + slow.suspicionMinMs, 300);
    assert.throws(() => speakerMembershipOptions(100, 150), (err: Error & { code?: string }) => err.code === 'FUL_ERR_MEMBERSHIP_OPTION' && err.message.includes('failAfterMs 150'));
  });

  it('options are validated, every problem at once', () => {
    assert.throws(() => membershipOptions({ probeIntervalMs: 0, suspicionMinMs: 900, indirectProbes: 1.5 }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'FUL_ERR_MEMBERSHIP_OPTION');
      for (const s of ['probeIntervalMs 0', 'suspicionMinMs 900', 'indirectProbes 1.5']) assert.ok(err.message.includes(s), `${err.message} names ${s}`);
      return true;
    });
  });
});
