import assert from 'node:assert/strict';
import { selfStanding, type SelfStanding, type StandingInput } from '../../speaker/membership/standing.js';

const NOW = 10_000;
const ISOLATION = 400;
const SETTLE = 200;

function input(o: Partial<StandingInput>): StandingInput {
  return { now: NOW, previous: { kind: 'member' }, upPeers: 2, minPeers: 2, lastHeardAt: NOW - 50, isolationMs: ISOLATION, rejoinSettleMs: SETTLE, ...o };
}

const isolated: SelfStanding = { kind: 'isolated', reason: 'noPeerHeard', silentMs: 600 };

const rows: Array<{ name: string; input: Partial<StandingInput>; want: SelfStanding['kind'] }> = [
  { name: 'a member that hears its peers stays a member', input: {}, want: 'member' },
  { name: 'every up peer (two) silent for isolationMs: isolated', input: { lastHeardAt: NOW - ISOLATION }, want: 'isolated' },
  { name: 'silent 1 ms short of isolationMs: still a member', input: { lastHeardAt: NOW - ISOLATION + 1 }, want: 'member' },
  { name: 'one silent peer is not enough (it may have crashed): a member', input: { upPeers: 1, lastHeardAt: NOW - 5_000 }, want: 'member' },
  { name: 'no peer at all: a member', input: { upPeers: 0, lastHeardAt: NOW - 5_000 }, want: 'member' },
  {
    name: 'isolated, one silent peer left after the dead ones were dropped: still isolated (the Lease rule judges it, not a suspicion)',
    input: { previous: isolated, upPeers: 1, lastHeardAt: NOW - 5_000 },
    want: 'isolated',
  },
  { name: 'isolated, every peer dropped: a member (nothing to be cut off from)', input: { previous: isolated, upPeers: 0, lastHeardAt: NOW - 5_000 }, want: 'member' },
  { name: 'isolated, a peer heard: rejoining', input: { previous: isolated, lastHeardAt: NOW - 10 }, want: 'rejoining' },
  { name: 'isolated with one peer left, that peer heard: rejoining', input: { previous: isolated, upPeers: 1, lastHeardAt: NOW - 10 }, want: 'rejoining' },
  { name: 'rejoining, settle time not over: rejoining', input: { previous: { kind: 'rejoining', untilMs: NOW + 1 } }, want: 'rejoining' },
  { name: 'rejoining, settle time over: a member', input: { previous: { kind: 'rejoining', untilMs: NOW } }, want: 'member' },
];

describe('selfStanding: is this node cut off from its peers?', () => {
  for (const row of rows) {
    it(row.name, () => {
      const i = input(row.input);
      const copy = structuredClone(i);
      assert.equal(selfStanding(i).kind, row.want, `selfStanding(${JSON.stringify(row.input)})`);
      assert.deepEqual(i, copy, 'input not mutated');
    });
  }
});
