import assert from 'node:assert/strict';
import type { LivenessView } from '../../speaker/membership/liveness.js';
import { speakerReadiness } from '../../speaker/plan/readiness.js';

const view = (alive: string[], down: string[] = [], isolation?: LivenessView['isolation']): LivenessView => ({
  alive: new Set(isolation ? [] : alive),
  down: new Set(isolation ? [...alive, ...down] : down),
  isolated: isolation !== undefined,
  peers: new Map(),
  reasons: new Map(),
  stale: new Map(),
  probed: new Set(),
  awaitingLeases: false,
  ...(isolation ? { isolation } : {}),
});

describe('speaker readiness (/readyz)', () => {
  const rows: Array<{ name: string; input: Parameters<typeof speakerReadiness>[0]; want: ReturnType<typeof speakerReadiness> }> = [
    { name: 'caches first', input: { synced: false, membership: undefined }, want: { ready: false, reason: 'caches not synced yet' } },
    { name: 'then the first plan', input: { synced: true, membership: undefined }, want: { ready: false, reason: 'starting: interfaces and the first plan are not applied yet' } },
    {
      name: 'then every member heard from or judged',
      input: { synced: true, membership: { unheard: ['n2', 'n3'], view: view(['n1', 'n2', 'n3']), applied: true } },
      want: { ready: false, reason: 'membership: not heard from n2, n3 yet' },
    },
    {
      name: 'a long list is cut after five names',
      input: { synced: true, membership: { unheard: ['a', 'b', 'c', 'd', 'e', 'f', 'g'], view: view(['n1']), applied: true } },
      want: { ready: false, reason: 'membership: not heard from a, b, c, d, e and 2 more yet' },
    },
    {
      name: 'an isolated node is not ready, and says why',
      input: { synced: true, membership: { unheard: [], view: view(['n1', 'n2', 'n3'], [], 'noPeerHeard'), applied: true } },
      want: { ready: false, reason: 'isolated from its peers (noPeerHeard): answering for no address' },
    },
    {
      name: 'a membership change not yet applied (a handover under way) is not ready',
      input: { synced: true, membership: { unheard: [], view: view(['n1', 'n2']), applied: false } },
      want: { ready: false, reason: 'the latest membership view is not applied yet (a handover in progress, or a failed apply being retried)' },
    },
    {
      name: 'ready: how many members are alive, a dead one included in the count',
      input: { synced: true, membership: { unheard: [], view: view(['n1', 'n2'], ['n3']), applied: true } },
      want: { ready: true, detail: '2 of 3 members alive' },
    },
  ];
  for (const row of rows) it(row.name, () => assert.deepEqual(speakerReadiness(row.input), row.want));
});
