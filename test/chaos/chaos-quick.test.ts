import assert from 'node:assert/strict';
import { chaosOptionsFromEnv, runChaos } from './run.js';
import { skipUnlessRoot } from '../e2e/helpers-resilience.js';

// The quick chaos run: 12 random faults (test/chaos/run.ts; chaos.test.ts runs 200) in a 3-node
// lab under TCP, UDP and HTTP load; asserts 0 violations. The seed is printed;
// FULCRUM_CHAOS_SEED replays it. Lab prefix `fcq`. It is meant for `npm test`, but stays in
// `npm run test:chaos` until the SIGTERM handover stops answering ARP at once: today two nodes
// answer for about 1.4 s (over the 1 s bound), so a random schedule that SIGTERMs a loaded owner
// fails (FULCRUM_CHAOS_SEED=937878549 reproduces it) — see test/e2e/README.md, "Chaos".

describe('chaos (quick): random faults under load, invariants checked throughout', function () {
  const o = { ...chaosOptionsFromEnv('fcq', 12), events: 12 };
  this.timeout(240_000);

  before(function () {
    skipUnlessRoot(this, 'chaos (quick)');
  });

  it('12 events: 0 violations', async () => {
    const report = await runChaos(o);
    assert.deepEqual(report.violations, [], `seed ${report.seed}: ${report.violations.length} violations`);
  });
});
