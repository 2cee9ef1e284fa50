import assert from 'node:assert/strict';
import { livenessView, probedMember, sameView, type ApiView, type LivenessInputs, type LivenessView, type MemberLease, type ProbeVerdict } from '../../speaker/membership/liveness.js';
import type { SelfStanding } from '../../speaker/membership/standing.js';

const NOW = 100_000;
const WALL = 1_700_000_000_000;
const MARGIN = 1_000;
const RENEW = 5_000;
const STALE_MARGIN = 3_000;
/** A Lease is stale once our renewals came back this long after its last one. */
const STALE_AFTER = RENEW + STALE_MARGIN;

/** Our view of the API: current for a minute, our last renewal back 1 s ago. */
const API: ApiView = { reachable: true, sinceMs: NOW - 60_000, lastMs: NOW - 1_000 };

/** A Lease that expires `expiresInMs` from now (wall clock), last seen changing at `observedMs`. */
function lease(o: { expiresInMs?: number; observedMs?: number } = {}): MemberLease {
  return { expiresMs: WALL + (o.expiresInMs ?? 10_000), observedMs: o.observedMs ?? NOW - 3_000, renewIntervalMs: RENEW };
}
/** A Lease whose last renewal we saw `agoMs` before our own last renewal came back. */
const renewedBefore = (agoMs: number, api: ApiView = API): MemberLease => lease({ observedMs: api.lastMs - agoMs });
const alive: ProbeVerdict = { state: 'alive' };
const suspect: ProbeVerdict = { state: 'suspect' };
const left: ProbeVerdict = { state: 'left' };
const deadSince = (ms: number): ProbeVerdict => ({ state: 'dead', downSinceMs: NOW - ms });
const cutOff: SelfStanding = { kind: 'isolated', reason: 'noPeerHeard', silentMs: 500 };
const rejoining: SelfStanding = { kind: 'rejoining', untilMs: NOW + 150 };

interface RowInputs {
  leases: Record<string, MemberLease>;
  probes?: Record<string, ProbeVerdict>;
  api?: ApiView;
  standing?: SelfStanding;
  /** Nodes whose Ready condition is not True (default: every node Ready). */
  notReady?: string[];
  /** Nodes without a Node object. */
  noNode?: string[];
  previous?: LivenessView;
}

function inputs(o: RowInputs): LivenessInputs {
  const nodes = ['n0', 'n1', 'n2', 'n3', 'n4'].filter((n) => !o.noNode?.includes(n));
  return {
    me: 'n1',
    nowMs: NOW,
    wallNowMs: WALL,
    api: o.api ?? API,
    skewToleranceMs: 0,
    evidenceMarginMs: MARGIN,
    staleMarginMs: STALE_MARGIN,
    leases: new Map(Object.entries(o.leases)),
    probes: new Map(Object.entries(o.probes ?? {})),
    standing: o.standing ?? { kind: 'member' },
    nodeReady: new Map(nodes.map((n) => [n, !o.notReady?.includes(n)])),
    previous: o.previous,
  };
}

interface Row extends RowInputs {
  name: string;
  expect: { alive: string[]; down: string[]; isolated?: boolean; isolation?: string; probed?: string[]; awaitingLeases?: boolean };
}

/** What a survivor concluded once the Leases of its two silent peers went stale. */
const servingAlone = livenessView(inputs({
  leases: { n2: renewedBefore(STALE_AFTER + 2_000), n3: renewedBefore(STALE_AFTER + 2_000) },
  probes: { n2: alive, n3: alive },
  standing: cutOff,
}));
/** What a node concluded when cut off from two peers alive elsewhere. */
const withdrawn = livenessView(inputs({ leases: { n2: lease(), n3: lease() }, probes: { n2: alive, n3: alive }, standing: cutOff }));

const rows: Row[] = [
  { name: 'a peer whose probes answer is alive', leases: { n2: lease() }, probes: { n2: alive }, expect: { alive: ['n1', 'n2'], down: [] } },
  { name: 'a suspect peer is still alive (its suspicion window)', leases: { n2: lease() }, probes: { n2: suspect }, expect: { alive: ['n1', 'n2'], down: [] } },
  { name: 'a peer the probes found dead is down even with a fresh Lease', leases: { n2: lease() }, probes: { n2: deadSince(200) }, expect: { alive: ['n1'], down: ['n2'] } },
  { name: 'a peer that left is down at once', leases: { n2: lease() }, probes: { n2: left }, expect: { alive: ['n1'], down: ['n2'] } },
  {
    name: 'fail static: a peer cut off only from the API (Lease expired) keeps its addresses while its probes answer',
    leases: { n2: lease({ expiresInMs: -60_000 }) },
    probes: { n2: alive },
    expect: { alive: ['n1', 'n2'], down: [] },
  },
  { name: 'a peer not probed (no address yet) is alive while its Lease is fresh', leases: { n2: lease() }, expect: { alive: ['n1', 'n2'], down: [] } },
  { name: 'a peer not probed with an expired Lease is down', leases: { n2: lease({ expiresInMs: -5_000 }) }, expect: { alive: ['n1'], down: ['n2'] } },
  {
    name: 'fail static: a Lease that expired after our view of the API broke is frozen, not a down verdict',
    leases: { n2: lease({ expiresInMs: -60_000 }) },
    api: { reachable: false, sinceMs: NOW - 300_000, lastMs: NOW - 120_000 },
    expect: { alive: ['n1', 'n2'], down: [] },
  },
  {
    name: 'fail static the other way: a Lease already expired when our view of the API broke stays expired (our outage revives no dead peer)',
    leases: { n2: lease({ expiresInMs: -60_000 }) },
    api: { reachable: false, sinceMs: NOW - 300_000, lastMs: NOW - 1_000 },
    expect: { alive: ['n1'], down: ['n2'] },
  },
  { name: 'a node with no Lease is not a member at all', leases: {}, probes: { n2: alive }, expect: { alive: ['n1'], down: [] } },
  { name: 'our own Lease is not a peer', leases: { n1: lease(), n2: lease() }, probes: { n2: alive }, expect: { alive: ['n1', 'n2'], down: [] } },
  {
    name: 'isolated by probes: every up peer silent at once, alive elsewhere by their Leases, this node owns nothing',
    leases: { n2: lease(), n3: lease() },
    probes: { n2: alive, n3: alive },
    standing: cutOff,
    expect: { alive: [], down: ['n2', 'n3'], isolated: true, isolation: 'noPeerHeard' },
  },
  {
    name: 'rejoining: this node hears its peers again but owns nothing until the view settles',
    leases: { n2: lease() },
    probes: { n2: alive },
    standing: rejoining,
    expect: { alive: [], down: ['n2'], isolated: true, isolation: 'rejoining' },
  },
  {
    name: 'the Lease witness: peers found dead keep renewing, and outnumber our side, so the cut is ours',
    leases: { n2: lease({ observedMs: NOW - 100 }), n3: lease({ observedMs: NOW - 100 }) },
    probes: { n2: deadSince(3_000), n3: deadSince(3_000) },
    expect: { alive: [], down: ['n2', 'n3'], isolated: true, isolation: 'peersAliveElsewhere' },
  },
  {
    name: 'the majority side of a partition is not isolated and takes the cut node over',
    leases: { n0: lease({ observedMs: NOW - 100 }), n3: lease() },
    probes: { n0: deadSince(3_000), n3: alive },
    expect: { alive: ['n1', 'n3'], down: ['n0'] },
  },
  {
    name: 'an even split: the side holding the smallest name stays (here ours: n1 < n2)',
    leases: { n2: lease({ observedMs: NOW - 100 }) },
    probes: { n2: deadSince(3_000) },
    expect: { alive: ['n1'], down: ['n2'] },
  },
  {
    name: 'an even split: the side without the smallest name withdraws (n0 is on the other side)',
    leases: { n0: lease({ observedMs: NOW - 100 }) },
    probes: { n0: deadSince(3_000) },
    expect: { alive: [], down: ['n0'], isolated: true, isolation: 'peersAliveElsewhere' },
  },
  {
    name: 'a crashed peer (Lease not renewed since our verdict) is no witness: we are not isolated',
    leases: { n0: lease({ observedMs: NOW - 5_000 }) },
    probes: { n0: deadSince(3_000) },
    expect: { alive: ['n1'], down: ['n0'] },
  },
  {
    name: 'a renewal seen within the margin after our verdict (written before the crash, seen late) is no witness',
    leases: { n0: lease({ observedMs: NOW - 2_500 }) },
    probes: { n0: deadSince(3_000) },
    expect: { alive: ['n1'], down: ['n0'] },
  },
  {
    name: 'with our API view broken, Leases prove nothing: no Lease witness',
    leases: { n0: lease({ observedMs: NOW - 100 }) },
    probes: { n0: deadSince(3_000) },
    api: { reachable: false, sinceMs: NOW - 60_000, lastMs: NOW - 2_000 },
    expect: { alive: ['n1'], down: ['n0'] },
  },

  // The last speaker standing: no peer heard, and the API tells why (speaker/membership/README.md).
  {
    name: "none heard, API reachable, the peers' Leases stale: the peers are dead, this node keeps serving and takes their addresses",
    leases: { n2: renewedBefore(STALE_AFTER + 2_000), n3: renewedBefore(STALE_AFTER + 500) },
    probes: { n2: alive, n3: alive },
    standing: cutOff,
    expect: { alive: ['n1'], down: ['n2', 'n3'], probed: [], awaitingLeases: false },
  },
  {
    name: "none heard, API reachable, the peers' Leases fresh: the node network is cut and they outnumber us, so this node withdraws",
    leases: { n2: renewedBefore(2_000), n3: renewedBefore(4_000) },
    probes: { n2: alive, n3: alive },
    standing: cutOff,
    expect: { alive: [], down: ['n2', 'n3'], isolated: true, isolation: 'noPeerHeard', probed: ['n2', 'n3'], awaitingLeases: true },
  },
  {
    name: 'none heard, API unreachable: this node is cut off and withdraws',
    leases: { n2: renewedBefore(2_000), n3: renewedBefore(2_000) },
    probes: { n2: alive, n3: alive },
    api: { reachable: false, sinceMs: NOW - 60_000, lastMs: NOW - 6_500 },
    standing: cutOff,
    expect: { alive: [], down: ['n2', 'n3'], isolated: true, isolation: 'noPeerHeard', awaitingLeases: false },
  },
  {
    name: 'none heard, API unreachable for long: Leases are judged as of our last renewal seen back, so no silent peer goes stale meanwhile',
    leases: { n2: lease({ observedMs: NOW - 64_000 }), n3: lease({ observedMs: NOW - 64_000 }) },
    probes: { n2: alive, n3: alive },
    api: { reachable: false, sinceMs: NOW - 300_000, lastMs: NOW - 60_000 },
    standing: cutOff,
    expect: { alive: [], down: ['n2', 'n3'], isolated: true, isolation: 'noPeerHeard' },
  },
  {
    name: "a silent peer's Lease about to go stale (1 ms short of a renew period plus the margin) is still alive elsewhere",
    leases: { n2: renewedBefore(STALE_AFTER - 1), n3: renewedBefore(STALE_AFTER - 1) },
    probes: { n2: alive, n3: alive },
    standing: cutOff,
    expect: { alive: [], down: ['n2', 'n3'], isolated: true, isolation: 'noPeerHeard' },
  },
  {
    name: "a silent peer's Lease not renewed for exactly a renew period plus the margin is stale",
    leases: { n2: renewedBefore(STALE_AFTER), n3: renewedBefore(STALE_AFTER) },
    probes: { n2: alive, n3: alive },
    standing: cutOff,
    expect: { alive: ['n1'], down: ['n2', 'n3'] },
  },
  {
    name: 'one silent peer dead, one alive elsewhere: an even split, the side holding the smallest name stays (ours: n1 < n3)',
    leases: { n2: renewedBefore(STALE_AFTER + 1), n3: renewedBefore(1_000) },
    probes: { n2: alive, n3: alive },
    standing: cutOff,
    expect: { alive: ['n1'], down: ['n2', 'n3'], probed: ['n3'] },
  },
  {
    name: 'one silent peer dead, one alive elsewhere holding the smallest name (n0): this node withdraws, never two owners',
    leases: { n2: renewedBefore(STALE_AFTER + 1), n0: renewedBefore(1_000) },
    probes: { n2: alive, n0: alive },
    standing: cutOff,
    expect: { alive: [], down: ['n0', 'n2'], isolated: true, isolation: 'noPeerHeard' },
  },
  {
    name: 'a silent peer whose Node is not Ready is dead even with a fresh Lease (it cannot own an address anyway)',
    leases: { n2: renewedBefore(1_000), n3: renewedBefore(STALE_AFTER + 1) },
    probes: { n2: alive, n3: alive },
    notReady: ['n2'],
    standing: cutOff,
    expect: { alive: ['n1'], down: ['n2', 'n3'], probed: ['n2'] },
  },
  {
    name: 'a silent peer whose Node object is gone (the cluster scaled down) is dead',
    leases: { n2: renewedBefore(1_000), n3: renewedBefore(1_000) },
    probes: { n2: alive, n3: alive },
    noNode: ['n2', 'n3'],
    standing: cutOff,
    expect: { alive: ['n1'], down: ['n2', 'n3'] },
  },
  {
    name: 'the API just came back: silent peers last seen before the outage get a renew period plus the margin to show a renewal',
    leases: { n2: lease({ observedMs: NOW - 60_000 }), n3: lease({ observedMs: NOW - 60_000 }) },
    probes: { n2: alive, n3: alive },
    api: { reachable: true, sinceMs: NOW - 2_000, lastMs: NOW - 500 },
    standing: cutOff,
    expect: { alive: [], down: ['n2', 'n3'], isolated: true, isolation: 'noPeerHeard' },
  },
  {
    name: 'the API came back a renew period plus the margin ago and the silent peers did not renew: dead',
    leases: { n2: lease({ observedMs: NOW - 60_000 }), n3: lease({ observedMs: NOW - 60_000 }) },
    probes: { n2: alive, n3: alive },
    api: { reachable: true, sinceMs: NOW - 1_000 - STALE_AFTER, lastMs: NOW - 1_000 },
    standing: cutOff,
    expect: { alive: ['n1'], down: ['n2', 'n3'] },
  },
  {
    name: 'the dead peers dropped from the probes (none left to hear): still dead, this node serves alone',
    leases: { n2: renewedBefore(STALE_AFTER + 2_000), n3: renewedBefore(STALE_AFTER + 2_000) },
    previous: servingAlone,
    expect: { alive: ['n1'], down: ['n2', 'n3'], probed: [] },
  },
  {
    name: 'fail static: the API lost after the silent peers were found dead keeps them dead, and this node serving',
    leases: { n2: renewedBefore(STALE_AFTER + 2_000), n3: renewedBefore(STALE_AFTER + 2_000) },
    api: { reachable: false, sinceMs: NOW - 60_000, lastMs: NOW - 1_000 },
    previous: servingAlone,
    expect: { alive: ['n1'], down: ['n2', 'n3'] },
  },
  {
    name: 'fail static: the API lost while the dead peers are still probed keeps them dead too',
    leases: { n2: renewedBefore(STALE_AFTER + 2_000), n3: renewedBefore(STALE_AFTER + 2_000) },
    probes: { n2: alive, n3: alive },
    standing: cutOff,
    api: { reachable: false, sinceMs: NOW - 60_000, lastMs: NOW - 1_000 },
    previous: servingAlone,
    expect: { alive: ['n1'], down: ['n2', 'n3'] },
  },
  {
    name: 'after an outage of our own, peers found dead before it stay dead (no flap while their Leases are judged again)',
    leases: { n2: renewedBefore(STALE_AFTER + 2_000), n3: renewedBefore(STALE_AFTER + 2_000) },
    api: { reachable: true, sinceMs: NOW - 1_000, lastMs: NOW - 500 },
    previous: servingAlone,
    expect: { alive: ['n1'], down: ['n2', 'n3'] },
  },
  {
    name: 'a dead peer renews its Lease (it restarted): a member again, up by its fresh Lease until the probes judge it',
    leases: { n2: lease({ observedMs: NOW - 200 }), n3: renewedBefore(STALE_AFTER + 2_000) },
    previous: servingAlone,
    expect: { alive: ['n1', 'n2'], down: ['n3'], probed: ['n2'] },
  },
  {
    name: 'a peer comes back while this node serves alone: heard (rejoining), it is up and gets its addresses back; this node does not withdraw',
    leases: { n2: lease({ observedMs: NOW - 200 }), n3: renewedBefore(STALE_AFTER + 2_000) },
    probes: { n2: alive },
    standing: rejoining,
    previous: servingAlone,
    expect: { alive: ['n1', 'n2'], down: ['n3'] },
  },
  {
    name: 'a dead peer heard again without a renewal (cut off from the API only): up by its probes',
    leases: { n2: renewedBefore(STALE_AFTER + 2_000), n3: renewedBefore(STALE_AFTER + 2_000) },
    probes: { n2: alive },
    standing: rejoining,
    previous: servingAlone,
    expect: { alive: ['n1', 'n2'], down: ['n3'], probed: ['n2'] },
  },
  {
    name: 'rejoining after a withdrawal: this node waits for the peers to hand its addresses back',
    leases: { n2: lease(), n3: lease() },
    probes: { n2: alive, n3: alive },
    standing: rejoining,
    previous: withdrawn,
    expect: { alive: [], down: ['n2', 'n3'], isolated: true, isolation: 'rejoining' },
  },
];

describe('livenessView: Leases for membership, probes for speed', () => {
  for (const row of rows) {
    it(row.name, () => {
      const input = inputs(row);
      const leasesBefore = new Map(input.leases);
      const v = livenessView(input);
      assert.deepEqual(
        { alive: [...v.alive].sort(), down: [...v.down].sort(), isolated: v.isolated, isolation: v.isolation },
        { alive: row.expect.alive, down: row.expect.down, isolated: row.expect.isolated ?? false, isolation: row.expect.isolation },
        `livenessView(${row.name})`,
      );
      if (row.expect.probed) assert.deepEqual([...v.probed].sort(), row.expect.probed, `probed: livenessView(${row.name})`);
      if (row.expect.awaitingLeases !== undefined) assert.equal(v.awaitingLeases, row.expect.awaitingLeases, `awaitingLeases: livenessView(${row.name})`);
      assert.ok(sameView(v, livenessView(input)), 'same inputs, same view');
      assert.deepEqual(input.leases, leasesBefore, 'input not mutated');
    });
  }

  it('sameView tells a changed view apart', () => {
    const a = livenessView(inputs({ leases: { n2: lease() }, probes: { n2: alive } }));
    const b = livenessView(inputs({ leases: { n2: lease() }, probes: { n2: deadSince(10) } }));
    assert.equal(sameView(a, b), false);
    assert.equal(sameView(undefined, a), false);
  });

  it('a stale Lease is remembered with the observation judged, so only a renewal lifts it', () => {
    assert.deepEqual([...servingAlone.stale.keys()].sort(), ['n2', 'n3']);
    assert.equal(servingAlone.stale.get('n2'), renewedBefore(STALE_AFTER + 2_000).observedMs);
    assert.equal(servingAlone.reasons.get('n2'), 'leaseStale');
  });
});

describe('probedMember: which Lease holders the detector probes', () => {
  const rows: Array<{ name: string; lease: MemberLease; probe: ProbeVerdict['state']; api?: ApiView; want: boolean }> = [
    { name: 'a fresh Lease', lease: lease(), probe: 'unknown', want: true },
    { name: 'an expired Lease whose holder still answers (cut off only from the API)', lease: lease({ expiresInMs: -60_000 }), probe: 'alive', want: true },
    { name: 'an expired Lease under suspicion', lease: lease({ expiresInMs: -60_000 }), probe: 'suspect', want: true },
    { name: 'an expired Lease whose holder the probes found dead: forgotten', lease: lease({ expiresInMs: -60_000 }), probe: 'dead', want: false },
    { name: 'a Lease that expired after our API view broke (frozen, kept)', lease: lease({ expiresInMs: -60_000 }), probe: 'dead', api: { reachable: false, sinceMs: NOW - 300_000, lastMs: NOW - 120_000 }, want: true },
  ];
  for (const row of rows) {
    it(row.name, () => {
      assert.equal(probedMember(row.lease, row.probe, { api: row.api ?? API, nowMs: NOW, wallNowMs: WALL, skewToleranceMs: 0 }), row.want);
    });
  }
});
