import assert from 'node:assert/strict';
import { livenessView, probedMember, sameView, type LivenessInputs, type MemberLease, type ProbeVerdict } from '../../speaker/membership/liveness.js';
import type { SelfStanding } from '../../speaker/membership/standing.js';

const NOW = 100_000;
const WALL = 1_700_000_000_000;
const MARGIN = 1_000;

/** A Lease that expires `expiresInMs` from now (wall clock), last seen changing at `observedMs`. */
function lease(o: { expiresInMs?: number; observedMs?: number } = {}): MemberLease {
  return { expiresMs: WALL + (o.expiresInMs ?? 10_000), observedMs: o.observedMs ?? NOW - 3_000 };
}
const alive: ProbeVerdict = { state: 'alive' };
const suspect: ProbeVerdict = { state: 'suspect' };
const left: ProbeVerdict = { state: 'left' };
const deadSince = (ms: number): ProbeVerdict => ({ state: 'dead', downSinceMs: NOW - ms });

function inputs(o: { leases: Record<string, MemberLease>; probes?: Record<string, ProbeVerdict>; apiHealthy?: boolean; standing?: SelfStanding }): LivenessInputs {
  return {
    me: 'n1',
    nowMs: NOW,
    wallNowMs: WALL,
    apiHealthy: o.apiHealthy ?? true,
    skewToleranceMs: 0,
    evidenceMarginMs: MARGIN,
    leases: new Map(Object.entries(o.leases)),
    probes: new Map(Object.entries(o.probes ?? {})),
    standing: o.standing ?? { kind: 'member' },
  };
}

interface Row {
  name: string;
  leases: Record<string, MemberLease>;
  probes?: Record<string, ProbeVerdict>;
  apiHealthy?: boolean;
  standing?: SelfStanding;
  expect: { alive: string[]; down: string[]; isolated?: boolean; isolation?: string };
}

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
    name: 'fail static: with our API view broken an expired Lease is frozen, not a down verdict',
    leases: { n2: lease({ expiresInMs: -60_000 }) },
    apiHealthy: false,
    expect: { alive: ['n1', 'n2'], down: [] },
  },
  { name: 'a node with no Lease is not a member at all', leases: {}, probes: { n2: alive }, expect: { alive: ['n1'], down: [] } },
  { name: 'our own Lease is not a peer', leases: { n1: lease(), n2: lease() }, probes: { n2: alive }, expect: { alive: ['n1', 'n2'], down: [] } },
  {
    name: 'isolated by probes: every up peer silent at once, this node owns nothing',
    leases: { n2: lease(), n3: lease() },
    probes: { n2: alive, n3: alive },
    standing: { kind: 'isolated', reason: 'noPeerHeard', silentMs: 500 },
    expect: { alive: [], down: ['n2', 'n3'], isolated: true, isolation: 'noPeerHeard' },
  },
  {
    name: 'rejoining: this node hears its peers again but owns nothing until the view settles',
    leases: { n2: lease() },
    probes: { n2: alive },
    standing: { kind: 'rejoining', untilMs: NOW + 100 },
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
    apiHealthy: false,
    expect: { alive: ['n1'], down: ['n0'] },
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
});

describe('probedMember: which Lease holders the detector probes', () => {
  const rows: Array<{ name: string; lease: MemberLease; probe: ProbeVerdict['state']; apiHealthy?: boolean; want: boolean }> = [
    { name: 'a fresh Lease', lease: lease(), probe: 'unknown', want: true },
    { name: 'an expired Lease whose holder still answers (cut off only from the API)', lease: lease({ expiresInMs: -60_000 }), probe: 'alive', want: true },
    { name: 'an expired Lease under suspicion', lease: lease({ expiresInMs: -60_000 }), probe: 'suspect', want: true },
    { name: 'an expired Lease whose holder the probes found dead: forgotten', lease: lease({ expiresInMs: -60_000 }), probe: 'dead', want: false },
    { name: 'an expired Lease while our API view is broken (frozen, kept)', lease: lease({ expiresInMs: -60_000 }), probe: 'dead', apiHealthy: false, want: true },
  ];
  for (const row of rows) {
    it(row.name, () => {
      assert.equal(probedMember(row.lease, row.probe, { apiHealthy: row.apiHealthy ?? true, wallNowMs: WALL, skewToleranceMs: 0 }), row.want);
    });
  }
});
