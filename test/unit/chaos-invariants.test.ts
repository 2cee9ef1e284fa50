import assert from 'node:assert/strict';
import { floodEntries, floodVerdict, GOAL_MIN_EVENTS, p95Verdict, percentile, recoveryMs, reportTable, type FloodRun } from '../chaos/invariants.js';

// The chaos run's pure arithmetic (test/chaos/invariants.ts): recovery after an event, the p95
// judgement of a lost owner's goal, and the SYN flood's drain bound.

/** Probe results every 100 ms from t=0 to t=lastMs; `failed` lists the times that failed. */
function probes(lastMs: number, failed: readonly number[]): { t: number; ok: boolean; ms: number }[] {
  const out = [];
  for (let t = 0; t <= lastMs; t += 100) out.push({ t, ok: !failed.includes(t), ms: 5 });
  return out;
}

describe('chaos invariants: recovery after an event', () => {
  it('is 0 when nothing failed, and the gap less one interval when something did', () => {
    assert.equal(recoveryMs(probes(2000, []), 500, 1500, 100), 0);
    // failures at 600, 700, 800: successes at 500 and 900, 400 ms apart
    assert.equal(recoveryMs(probes(2000, [600, 700, 800]), 500, 1500, 100), 300);
  });

  it('a failure just before the next event ends at the first success after it, not "never"', () => {
    // the window is [500, 1000); the failure at 900 is followed by a success at 1000, in the next window
    assert.equal(recoveryMs(probes(2000, [900]), 500, 1000, 100), 100);
    // two failures across the boundary: the gap runs to the first success after the last in-window failure
    assert.equal(recoveryMs(probes(2000, [900, 1000]), 500, 1000, 100), 200);
  });

  it('is undefined when no attempt succeeded after the last failure', () => {
    assert.equal(recoveryMs(probes(2000, [1800, 1900, 2000]), 1500, 2100, 100), undefined);
  });

  it('failures of the next event alone do not count against this one', () => {
    assert.equal(recoveryMs(probes(2000, [1100, 1200]), 500, 1000, 100), 0);
  });
});

describe("chaos invariants: a lost owner's goal is a p95 over the run", () => {
  it(`is not judged under ${GOAL_MIN_EVENTS} events, whatever their worst`, () => {
    assert.equal(p95Verdict(Array(GOAL_MIN_EVENTS - 1).fill(5000), 500, 100), undefined);
  });

  it('meets the goal when one event in twenty is over it, and not when two are', () => {
    const one = [...Array(19).fill(300), 700];
    assert.equal(percentile(one, 95), 300);
    assert.equal(p95Verdict(one, 500, 100), undefined);
    const two = [...Array(18).fill(300), 700, 800];
    const v = p95Verdict(two, 500, 100);
    assert.match(v ?? '', /recovery p95 700 ms over 20 events, over the goal of 500 ms \+ the 100 ms probe interval/);
  });

  it('allows one probe interval above the goal', () => {
    assert.equal(p95Verdict(Array(20).fill(600), 500, 100), undefined);
    assert.notEqual(p95Verdict(Array(20).fill(601), 500, 100), undefined);
  });

  it('the report prints p95 against the goal as a ratio', () => {
    const t = reportTable([{ kind: 'speaker SIGKILL', events: 3, recoveriesMs: [100, 250, 400], goalMs: 500, violations: 0 }]);
    assert.match(t, /\| speaker SIGKILL \| 3 \| 3 \| 250 ms \| 400 ms \| 400 ms \| 500 ms \| 0\.80× \| 0 \|/);
  });
});

describe('chaos invariants: a SYN flood drains within the timeout and the slack', () => {
  const bounds = { timeoutS: 5, boundSlackS: 1, drainSlackS: 3, drainedAtMost: 5 };
  const run = (afterMs: number, left: number): FloodRun => ({
    target: '192.0.2.71:5678', owner: 'n2', ratePerS: 400, sent: 3600, floodMs: 9000, metricPeak: 1990,
    ticks: [
      { atMs: 5000, opening: new Map([['n1', 0], ['n2', 1990]]) },
      { atMs: 9000 + afterMs, opening: new Map([['n1', 0], ['n2', left]]) },
    ],
  });

  it('drained 5 s after the flood meets it; entries still there 8.5 s after do not', () => {
    assert.deepEqual(floodVerdict(run(5_000, 3), bounds).violations, []);
    const late = floodVerdict(run(8_500, 20), bounds).violations;
    assert.equal(late.length, 1);
    assert.match(late[0]!, /^drained: not at most 5 opening entries on every node within 5 \+ 3 s of the flood's end: n1 0, n2 20 opening entries 8\.5 s after/);
  });
});

describe("chaos invariants: the flood's entries are those from its source ports", () => {
  const table = [
    'ipv4     2 tcp      6 4 SYN_SENT src=192.0.2.2 dst=192.0.2.71 sport=20017 dport=5678 [UNREPLIED] src=198.51.100.3 dst=192.0.2.71 sport=5678 dport=20017 mark=0 zone=0 use=2',
    'ipv4     2 tcp      6 72 SYN_SENT src=192.0.2.2 dst=192.0.2.71 sport=40772 dport=5678 [UNREPLIED] src=192.0.2.71 dst=192.0.2.2 sport=5678 dport=40772 mark=0 zone=0 use=2',
    'ipv4     2 tcp      6 3 SYN_RECV src=192.0.2.2 dst=192.0.2.71 sport=29999 dport=5678 src=198.51.100.4 dst=192.0.2.71 sport=5678 dport=29999 mark=0 zone=0 use=2',
    'ipv4     2 tcp      6 3 SYN_RECV src=192.0.2.2 dst=192.0.2.71 sport=30000 dport=5678 src=198.51.100.4 dst=192.0.2.71 sport=5678 dport=30000 mark=0 zone=0 use=2',
    'ipv4     2 udp      17 0 src=192.0.2.11 dst=198.51.100.66 sport=5678 dport=20100 src=198.51.100.66 dst=192.0.2.11 sport=20100 dport=5678 mark=0 zone=0 use=2',
  ].join('\n');

  it("keeps a line by the original direction's client port, within [base, base + span)", () => {
    const kept = floodEntries(table, 20_000, 10_000).split('\n');
    assert.deepEqual(kept.map((l) => / sport=(\d+)/.exec(l)![1]), ['20017', '29999']);
  });
});
