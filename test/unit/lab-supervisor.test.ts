import assert from 'node:assert/strict';
import { handTryLines, type HandTryContext } from '../../lab/command.js';
import { allEndedUpTo, formatFailoverRow, formatFailoverTable, measureGap, parseAttemptLine, type Attempt, type FailoverRow } from '../../lab/failover-measure.js';
import type { LabService } from '../../lab/lab.js';
import { LabProcess } from '../../lab/netns.js';
import { decideRestart, describeExit, exitLine, formatSeconds, LAB_RESTART_POLICY, NO_BACKOFF, nextDelayMs, type BackoffState, type ExitFacts, type RestartPolicy } from '../../lab/restart-policy.js';
import { Supervisor } from '../../lab/supervisor.js';

const P = LAB_RESTART_POLICY;
const crash: ExitFacts = { enabled: true, labStopping: false, held: false, replaced: false, ranMs: 500 };

describe('lab supervisor: the restart back-off (pure)', () => {
  it('a component that keeps crashing waits 1, 2, 4, 8, 16, 30, 30 s: doubling, capped', () => {
    let state: BackoffState = NO_BACKOFF;
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      const d = decideRestart(P, state, crash);
      assert.ok(d.restart, `crash ${i + 1}: restarted`);
      delays.push(d.delayMs);
      state = d.next;
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    assert.equal(state.restarts, 7);
  });

  it('a run of a minute forgets the earlier crashes: the next delay is 1 s again, the count goes on', () => {
    const state: BackoffState = { restarts: 5, lastDelayMs: 16_000 };
    const d = decideRestart(P, state, { ...crash, ranMs: 60_000 });
    assert.deepEqual(d, { restart: true, delayMs: 1000, next: { restarts: 6, lastDelayMs: 1000 } });
    assert.equal(nextDelayMs(P, state, 59_999), 30_000, 'a second short of the reset still doubles (capped)');
  });

  it('the exit status does not matter (restartPolicy Always): an exit 0 is restarted too', () => {
    assert.equal(decideRestart(P, NO_BACKOFF, crash).restart, true);
  });

  const stays: { name: string; facts: Partial<ExitFacts>; reason: string }[] = [
    { name: 'with --no-restart it stays down', facts: { enabled: false }, reason: 'noRestart' },
    { name: 'while the lab stops nothing is restarted, even with --no-restart', facts: { labStopping: true, enabled: false }, reason: 'labStopping' },
    { name: 'held by the failover demo it stays down, whatever the flag', facts: { held: true, enabled: false }, reason: 'held' },
    { name: 'a process already replaced by a start by hand is not restarted', facts: { replaced: true, labStopping: true }, reason: 'replaced' },
  ];
  for (const row of stays) {
    it(row.name, () => {
      const state: BackoffState = { restarts: 2, lastDelayMs: 2000 };
      const before = JSON.stringify(state);
      assert.deepEqual(decideRestart(P, state, { ...crash, ...row.facts }), { restart: false, reason: row.reason });
      assert.equal(JSON.stringify(state), before, 'state not mutated');
    });
  }

  it('says how it ended and what comes next', () => {
    assert.equal(describeExit({ code: null, signal: 'SIGKILL' }), 'killed by SIGKILL');
    assert.equal(describeExit({ code: 1, signal: null }), 'exited 1');
    assert.equal(formatSeconds(1000), '1s');
    assert.equal(formatSeconds(1500), '1.5s');
    assert.equal(formatSeconds(42_400), '42s');
    assert.equal(formatSeconds(95_000), '1m35s');
    const d = decideRestart(P, { restarts: 1, lastDelayMs: 1000 }, crash);
    assert.equal(exitLine('speaker ful-n2', 'killed by SIGKILL', 42_400, d), 'speaker ful-n2 killed by SIGKILL after 42s; restart 2 in 2s');
    assert.equal(exitLine('allocator', 'exited 1', 300, { restart: false, reason: 'noRestart' }, 'error: bad flag'), 'allocator exited 1 after 0.3s (last line: error: bad flag); --no-restart: left down');
  });
});

describe('lab supervisor: real processes restarted', function () {
  this.timeout(20_000);
  const quick: RestartPolicy = { initialMs: 50, maxMs: 200, resetAfterMs: 60_000 };
  const exiting = (code: number) => () => new LabProcess(undefined, process.execPath, ['-e', `process.exit(${code})`], { name: 'exits' });

  it('restarts a process that keeps exiting with a growing delay, one line per exit and per restart; stop() ends it', async () => {
    const lines: string[] = [];
    const s = new Supervisor({ enabled: true, policy: quick, onLine: (l) => lines.push(l) });
    let current: LabProcess | undefined;
    const started: number[] = [];
    s.run('c', exiting(3), (p) => {
      current = p;
      started.push(Date.now());
    });
    for (let i = 0; i < 3; i++) await s.nextStart('c');
    s.stop();
    await current!.exited;
    const r = s.record('c');
    assert.equal(r.restarts, 3);
    assert.equal(r.lastExit, 'exited 3');
    assert.equal(r.backOffMs, 200, '50, 100, 200 ms');
    assert.equal(r.nextRestartAt, null, 'nothing pending once stopped');
    assert.ok(started[3]! - started[2]! >= 200 && started[2]! - started[1]! >= 100 && started[1]! - started[0]! >= 50, `gaps ${started.map((t) => t - started[0]!).join(',')}`);
    assert.match(lines[0]!, /^c exited 3 after [\d.]+s; restart 1 in 0\.1s$|^c exited 3 after [\d.]+s; restart 1 in 0s$/);
    assert.equal(lines.filter((l) => /^c restarted \(restart \d, pid \d+\)$/.test(l)).length, 3, lines.join('\n'));
  });

  it('tells its listeners of every start, exit and planned restart; componentRun says running, backOff or down (for the Pod status)', async () => {
    const s = new Supervisor({ enabled: true, policy: { ...quick, initialMs: 300 } });
    const seen: string[] = [];
    s.onChange((name) => seen.push(`${name} ${s.componentRun(name).state}`));
    const first = s.run('c', exiting(2), () => undefined);
    const next = s.nextStart('c');
    await first.exited;
    const waiting = s.componentRun('c');
    assert.deepEqual([waiting.state, waiting.restarts, waiting.backOffMs, waiting.lastExit?.code, waiting.lastExit?.signal], ['backOff', 1, 300, 2, null]);
    assert.ok(waiting.restartAt! > waiting.lastExit!.at && waiting.lastExit!.startedAt === waiting.startedAt, JSON.stringify(waiting));
    const again = await next;
    assert.equal(s.componentRun('c').firstStartedAt, waiting.firstStartedAt, 'the Pod\'s start time stays the first');
    s.hold('c');
    await again.exited;
    assert.equal(s.componentRun('c').state, 'down', 'held: left down');
    s.stop();
    assert.deepEqual(seen, ['c running', 'c backOff', 'c running', 'c running', 'c down']);
  });

  it('disabled: the process stays down and the line says why; hold and release start it again by hand', async () => {
    const lines: string[] = [];
    const s = new Supervisor({ enabled: false, policy: quick, onLine: (l) => lines.push(l) });
    const first = s.run('c', exiting(0), () => undefined);
    await first.exited; // the supervisor's own handler of this exit was registered first, so it has run
    assert.deepEqual(s.record('c').restarts, 0);
    assert.match(lines[0]!, /^c exited 0 after [\d.]+s; --no-restart: left down$/);
    s.hold('c');
    const again = s.release('c');
    assert.notEqual(again.pid, first.pid);
    assert.equal(s.record('c').restarts, 1, 'a release counts as a restart, as the kubelet would count it');
    await again.exited;
    s.stop();
  });
});

describe('lab failover demo: the figures (pure)', () => {
  const at = (t: number, ok: boolean, reason?: string): Attempt => ({ n: t / 10, at: t, ok, ms: ok ? 2 : 1000, ...(reason ? { reason } : {}) });

  it('reads the client\'s lines and nothing else', () => {
    assert.deepEqual(parseAttemptLine('{"n":7,"at":1000,"ok":true,"ms":3}'), { n: 7, at: 1000, ok: true, ms: 3 });
    assert.deepEqual(parseAttemptLine('{"n":8,"at":1000,"ok":false,"ms":1000,"reason":"timeout"}'), { n: 8, at: 1000, ok: false, ms: 1000, reason: 'timeout' });
    assert.equal(parseAttemptLine('(node:1) warning'), undefined);
    assert.equal(parseAttemptLine('{"ok":true}'), undefined);
  });

  it('the gap runs from the last success before the fault to the first after it; failures are counted by reason', () => {
    const attempts = [at(0, true), at(10, true), at(20, false, 'timeout'), at(30, false, 'timeout'), at(40, false, 'refused'), at(350, true), at(360, true)];
    const g = measureGap(attempts, 15, 400);
    assert.deepEqual(g, { longestGapMs: 340, recovered: true, attempts: 5, failed: 3, reasons: { timeout: 2, refused: 1 } });
  });

  it('the window is complete once every attempt started in it has ended: lines come in the order attempts end', () => {
    const ended = [at(0, true), at(10, true), at(30, true)];
    assert.equal(allEndedUpTo(ended, 35), false, 'attempt 2 (started at 20) still waits for its deadline');
    assert.equal(allEndedUpTo([...ended, at(20, false, 'timeout')], 35), true);
    assert.equal(allEndedUpTo([], 35), true, 'nothing started, nothing to wait for');
  });

  it('with no success after the fault the gap is a lower bound, up to the end of the window', () => {
    const g = measureGap([at(0, true), at(10, false, 'timeout')], 5, 1000);
    assert.equal(g.recovered, false);
    assert.equal(g.longestGapMs, 1000);
  });

  it('a clean handover shows the every-10-ms rhythm as its gap and no failure', () => {
    const attempts = Array.from({ length: 50 }, (_, i) => at(i * 10, true));
    assert.deepEqual(measureGap(attempts, 100, 400), { longestGapMs: 10, recovered: true, attempts: 31, failed: 0, reasons: {} });
  });

  it('prints a row per fault and a table', () => {
    const row: FailoverRow = {
      fault: 'sigkill', oldOwner: 'ful-n2', newOwner: 'ful-n3', movedMs: 700,
      gap: { longestGapMs: 312.4, recovered: true, attempts: 70, failed: 29, reasons: { timeout: 29 } },
      restored: 'speaker restarted, restart 1', ownerAfterRestore: 'ful-n2', restoreMs: 2345,
    };
    assert.equal(formatFailoverRow(row), 'speaker SIGKILL  ful-n2 → ful-n3  longest gap 312 ms, 29 of 70 connections failed (29 timeout)');
    assert.deepEqual(formatFailoverTable([row]).split('\n'), [
      'FAULT            OLD OWNER  NEW OWNER  LONGEST GAP  FAILED  ATTEMPTS  RESTORED',
      'speaker SIGKILL  ful-n2     ful-n3     312 ms       29      70        speaker restarted, restart 1; back to ful-n2 (2.3s)',
    ]);
  });
});

describe('lab command: the "try it by hand" lines added with the supervisor', () => {
  const ctx: HandTryContext = {
    clientNamespace: 'ful-cl', nodeNamespace: 'ful-n1', kubeconfig: '/r/.lab/admin.kubeconfig', stateDir: '/r/.lab', statePath: '/r/.lab/state.json',
    node: 'node', probe: '/r/dist/lab/probe.js', curl: true, kubectl: true,
  };
  const services: LabService[] = [{ namespace: 'default', name: 'echo-tcp', addresses: ['192.0.2.64'], ports: [], endpoints: '3 ready' }];

  it('fulcrum status, killing the owner\'s speaker (restarted or not), and how to measure failover', () => {
    const text = handTryLines({ ...ctx, fulcrum: '/r/bin/fulcrum', ownerSpeaker: { node: 'ful-n2', pid: 4242, restart: true }, failoverDemoHint: true }, services);
    assert.match(text, /^ {2}node \/r\/bin\/fulcrum status --kubeconfig \/r\/.lab\/admin.kubeconfig +# addresses, pools, owners/m);
    assert.match(text, /^ {2}kill -KILL 4242 +# the speaker of ful-n2, echo-tcp's owner: another node takes over; the lab restarts it after 1s/m);
    assert.match(text, /sudo npm run lab -- --failover-demo/);
    assert.match(handTryLines({ ...ctx, ownerSpeaker: { node: 'ful-n2', pid: 4242, restart: false } }, services), /it stays down \(--no-restart\)/);
  });

  it('without those facts, none of those lines', () => {
    assert.doesNotMatch(handTryLines(ctx, services), /status --kubeconfig|kill -KILL|failover-demo/);
  });
});
