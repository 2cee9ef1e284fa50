import assert from 'node:assert/strict';
import { chaosOptionsFromEnv, runChaos } from '../chaos/run.js';
import { skipUnlessRoot } from './helpers-resilience.js';

// The quick chaos run: 12 random faults (test/chaos/run.ts; test/chaos/chaos.test.ts runs 200) in
// a 3-node lab under TCP, UDP and HTTP load and TCP to a kernel-mode Service (the SYN flood's
// target); asserts 0 violations. In `npm test`, with a new seed each run (printed;
// FULCRUM_CHAOS_SEED replays it): a failure names its seed and its events.
// Lab prefix `fcq`.

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
