import assert from 'node:assert/strict';
import { DEFAULT_MEMBERSHIP_OPTIONS as O } from '../../speaker/membership/options.js';
import { percentile, runScenario } from '../../bench/membership/scenario.js';
import { Simulation, type SimulationConfig } from '../../bench/membership/simulation.js';

/** The verdicts of a run, as comparable text. */
function trace(config: Partial<SimulationConfig>, crash: number): { changes: string[]; sent: number[] } {
  const sim = new Simulation(config);
  sim.run(1_000);
  sim.crash(crash);
  sim.run(3_000);
  return { changes: sim.changes.map((c) => `${c.at.toFixed(3)} ${c.observer} ${JSON.stringify(c.change)}`), sent: [...sim.sent] };
}

describe('membership simulation: deterministic', () => {
  it('the same seed gives the same run, verdict for verdict and packet for packet', () => {
    const config = { nodes: 30, seed: 7, lossRate: 0.01, slowFraction: 0.1 };
    const a = trace(config, 5);
    assert.ok(a.changes.length > 0, 'the crash was seen');
    assert.deepEqual(trace(config, 5), a);
  });

  it('another seed gives another run', () => {
    assert.notDeepEqual(trace({ nodes: 30, seed: 8, lossRate: 0.01 }, 5).sent, trace({ nodes: 30, seed: 7, lossRate: 0.01 }, 5).sent);
  });
});

describe('membership simulation: detection without loss', () => {
  it('every member declares a crashed node dead, nobody else is ever declared down', () => {
    const r = runScenario({ sim: { nodes: 40, seed: 3 }, warmupMs: 1_000, durationMs: 6_000, crashEveryMs: 1_500, restartAfterMs: 2_500, observeMs: 1_000 });
    assert.equal(r.crashes.length, 3);
    for (const c of r.crashes) {
      assert.notEqual(c.allMs, undefined, `${c.node}: every live member judged it`);
      assert.ok(c.firstMs! <= O.probeIntervalMs + O.probeTimeoutMs + O.accusationGraceMs + O.suspicionMaxMs, `${c.node}: first verdict ${c.firstMs} ms`);
    }
    assert.equal(r.falseDown, 0);
    assert.ok(percentile(r.crashes.map((c) => c.allMs!), 100) < 1_000);
  });

  it('a crashed node that starts again (a new process, incarnation 0) is alive for every member again', () => {
    const sim = new Simulation({ nodes: 20, seed: 6 });
    sim.run(1_000);
    sim.crash(4);
    sim.run(3_000);
    assert.ok(sim.detectors.every((d, i) => i === 4 || d.stateOf(sim.names[4]!) === 'dead'));
    sim.restart(4);
    sim.run(3_500);
    assert.ok(sim.detectors.every((d, i) => i === 4 || d.stateOf(sim.names[4]!) === 'alive'), 'every member holds it alive');
    assert.ok(sim.detectors[4]!.incarnation > 0, 'it refuted the dead verdict with a higher incarnation');
  });

  it('a clean leave is known by every member at once, without any suspicion', () => {
    const sim = new Simulation({ nodes: 20, seed: 4 });
    sim.run(1_000);
    sim.leave(2);
    sim.run(1_010);
    const downs = sim.changes.filter((c) => c.change.kind === 'peerDown');
    assert.equal(downs.length, 19);
    assert.ok(downs.every((c) => c.change.kind === 'peerDown' && c.change.name === sim.names[2] && c.change.reason === 'left'));
  });

  it('probe traffic per node does not grow with the cluster (20 vs 200 nodes)', () => {
    const rate = (nodes: number) => runScenario({ sim: { nodes, seed: 5 }, warmupMs: 500, durationMs: 2_000, crashEveryMs: 0, restartAfterMs: 0, observeMs: 0 }).packetsPerNodePerSecond;
    const small = rate(20);
    const large = rate(200);
    // One probe and one ack per round: 2 × 1000 / probeIntervalMs packets per second.
    const perRound = (2 * 1000) / O.probeIntervalMs;
    for (const [n, r] of [[20, small], [200, large]] as const) assert.ok(Math.abs(r - perRound) < 1, `${n} nodes: ${r.toFixed(2)} packets/s per node`);
  });
});
