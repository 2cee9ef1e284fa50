import assert from 'node:assert/strict';
import { decodeHeartbeat, encodeHeartbeat, livenessView, sameView, type LivenessInputs, type MemberLease } from '../../speaker/plan-liveness.js';

const NOW = 100_000;
const WALL = 1_700_000_000_000;
const FAIL = 300;

/** A Lease renewed `agoMs` ago on the wall clock (15 s duration), observed at `observedMs`. */
function lease(o: { expiresInMs?: number; observedMs?: number } = {}): MemberLease {
  return { expiresMs: WALL + (o.expiresInMs ?? 10_000), observedMs: o.observedMs ?? NOW - 1000 };
}

interface Row {
  name: string;
  leases: Record<string, MemberLease>;
  heard?: Record<string, number>;
  left?: string[];
  apiHealthy?: boolean;
  expect: { alive: string[]; down: string[]; isolated?: boolean };
}

const rows: Row[] = [
  { name: 'a peer heard within fail-after is alive', leases: { n2: lease() }, heard: { n2: NOW - 100 }, expect: { alive: ['n1', 'n2'], down: [] } },
  { name: 'a peer silent longer than fail-after is down even with a fresh Lease', leases: { n2: lease() }, heard: { n2: NOW - 400 }, expect: { alive: ['n1'], down: ['n2'] } },
  { name: 'a peer that said leave is down at once', leases: { n2: lease() }, heard: { n2: NOW - 10 }, left: ['n2'], expect: { alive: ['n1'], down: ['n2'] } },
  { name: 'a peer never heard counts as alive while its Lease is fresh', leases: { n2: lease() }, expect: { alive: ['n1', 'n2'], down: [] } },
  { name: 'a peer never heard with an expired Lease is down', leases: { n2: lease({ expiresInMs: -5000 }) }, expect: { alive: ['n1'], down: ['n2'] } },
  {
    name: 'fail static: with the API unreachable an expired Lease is not a down verdict',
    leases: { n2: lease({ expiresInMs: -60_000 }) },
    apiHealthy: false,
    expect: { alive: ['n1', 'n2'], down: [] },
  },
  {
    name: 'a peer still heard keeps its addresses when its Lease expired (cut off only from the API)',
    leases: { n2: lease({ expiresInMs: -60_000 }) },
    heard: { n2: NOW - 50 },
    expect: { alive: ['n1', 'n2'], down: [] },
  },
  {
    name: 'isolated: peers renew their Leases but none is heard, so this node withdraws everything',
    leases: { n2: lease({ observedMs: NOW - 10 }), n3: lease({ observedMs: NOW - 10 }) },
    heard: { n2: NOW - 5000, n3: NOW - 5000 },
    expect: { alive: [], down: ['n2', 'n3'], isolated: true },
  },
  {
    name: 'the majority side of a partition is not isolated and takes the cut node over',
    leases: { n1x: lease({ observedMs: NOW - 10 }), n3: lease() },
    heard: { n1x: NOW - 5000, n3: NOW - 50 },
    expect: { alive: ['n1', 'n3'], down: ['n1x'] },
  },
  {
    name: 'a crashed peer (Lease not renewed since it went silent) does not make us isolated',
    leases: { n2: lease({ observedMs: NOW - 5000 }) },
    heard: { n2: NOW - 4900 },
    expect: { alive: ['n1'], down: ['n2'] },
  },
  { name: 'our own Lease is not a peer', leases: { n1: lease(), n2: lease() }, heard: { n2: NOW }, expect: { alive: ['n1', 'n2'], down: [] } },
];

describe('livenessView: Leases for membership, heartbeats for speed', () => {
  for (const row of rows) {
    it(row.name, () => {
      const input: LivenessInputs = {
        me: 'n1',
        nowMs: NOW,
        wallNowMs: WALL,
        failAfterMs: FAIL,
        leases: new Map(Object.entries(row.leases)),
        heardMs: new Map(Object.entries(row.heard ?? {})),
        left: new Set(row.left ?? []),
        apiHealthy: row.apiHealthy ?? true,
        skewToleranceMs: 0,
      };
      const v = livenessView(input);
      assert.deepEqual({ alive: [...v.alive].sort(), down: [...v.down].sort(), isolated: v.isolated }, { ...row.expect, isolated: row.expect.isolated ?? false }, `livenessView(${row.name})`);
      assert.ok(sameView(v, livenessView(input)), 'same inputs, same view');
    });
  }
});

describe('heartbeat datagrams', () => {
  it('round-trip alive and leave', () => {
    for (const h of [{ kind: 'alive', node: 'fle-n1' }, { kind: 'leave', node: 'node-a.example' }] as const) assert.deepEqual(decodeHeartbeat(encodeHeartbeat(h)), h);
  });
  it('anything else is ignored', () => {
    for (const junk of ['', 'FUL1 alive', 'FUL2 alive n1', 'FUL1 hello n1', 'FUL1 alive N1 ', 'FUL1 alive a b']) assert.equal(decodeHeartbeat(Buffer.from(junk)), undefined, junk);
  });
});
