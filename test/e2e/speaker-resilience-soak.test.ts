import assert from 'node:assert/strict';
import { delay } from '../../lab/netns.js';
import { ConnectionProber, probeText, summarizeProbes } from './helpers-probes.js';
import {
  addressOf, announcementsBySender, assertSpeakersRunning, electionCounts, electionDelta, holdersText, labPrefix, livenessLog,
  skipUnlessRoot, startCpuLoad, startReadyLab, stopLab, vipHolders, waitForQuiet, type Started,
} from './helpers-resilience.js';

// No false failover: both cores saturated by unrelated busy loops for FULCRUM_SOAK_SECONDS
// (default 60; the issue's 5 minutes is 300), and not one owner change.
const ECHO_PORT = 5678;
/** The speakers' --fail-after (the lab leaves the default): a stall this long makes a speaker claim its addresses again. */
const FAIL_AFTER_MS = 240;

function soakSeconds(): number {
  const raw = process.env.FULCRUM_SOAK_SECONDS ?? '60';
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 5 || n > 3600) throw new Error(`FULCRUM_SOAK_SECONDS "${raw}": a whole number of seconds from 5 to 3600`);
  return n;
}

describe('speaker resilience e2e: no false failover under CPU saturation', function () {
  const seconds = soakSeconds();
  this.timeout(120_000 + seconds * 1000);
  let started: Started | undefined;

  before(async function () {
    skipUnlessRoot(this, 'speaker resilience e2e');
    started = await startReadyLab(labPrefix(1));
  });

  after(async () => {
    await stopLab(started);
  });

  it(`both cores busy with unrelated work for ${seconds} s: 0 ownership changes, 0 takeover announcements, the same VIPs`, async () => {
    const { lab, svcs } = started!;
    const capture = await lab.topology.captureNeighbourTraffic();
    await waitForQuiet(lab, capture);
    const holdersBefore = await vipHolders(lab);
    const before = await electionCounts(lab);
    const prober = new ConnectionProber(lab, addressOf(svcs, 'echo-tcp'), ECHO_PORT, { intervalMs: 100, timeoutMs: 3000, mode: 'echo' });
    const fromS = Date.now() / 1000;
    const load = startCpuLoad(lab, 2);
    let loopLagMaxS = 0;
    try {
      // A bounded loop for the soak: once a second, every speaker must still be running.
      const endMs = Date.now() + seconds * 1000;
      while (Date.now() < endMs) {
        assertSpeakersRunning(lab);
        await delay(Math.max(0, Math.min(1000, endMs - Date.now())));
      }
    } finally {
      await Promise.all(load.map((p) => p.stop(1000)));
      await prober.stop();
    }
    const after = await electionCounts(lab);
    loopLagMaxS = Math.max(...[...after.values()].map((c) => c.loopLagMaxS));
    const delta = electionDelta(before, after);
    const changes = [...delta.values()].reduce((a, b) => a + b, 0);
    // A speaker stalled past --fail-after claims its own addresses again (its peers may have taken
    // them meanwhile): those announcements come from the holder and move nothing. A takeover
    // announcement is one from a node that did not hold the address.
    const { takeovers, reclaims } = announcementsBySender(lab, capture, holdersBefore, fromS);
    const holdersAfter = await vipHolders(lab);
    await capture.stop();
    const loadavg = (await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ');
    console.log(`      ${seconds} s with 2 busy loops (load average now ${loadavg}): ownership changes ${changes} (${[...delta.entries()].map(([n, d]) => `${n} ${d}`).join(', ')}), takeover announcements ${takeovers.length}, announcements by the holder itself after a stall ${reclaims}`);
    console.log(`      client: ${probeText(summarizeProbes(prober.results))}; longest speaker event-loop stall ${(loopLagMaxS * 1000).toFixed(0)} ms`);
    const verdicts = livenessLog(started!, fromS * 1000);
    if (changes > 0 || takeovers.length > 0 || reclaims > 0) for (const line of verdicts.slice(0, 40)) console.log(`      ${line}`);
    assert.equal(changes, 0, 'no ownership change');
    assert.deepEqual(takeovers, [], 'no takeover announcement on the bridge (from a node that did not hold the address)');
    const longStalls = verdicts.filter((l) => Number(/stalled (\d+) ms$/.exec(l)?.[1] ?? 0) >= FAIL_AFTER_MS);
    if (reclaims > 0) assert.ok(longStalls.length > 0, `the holders announced again ${reclaims} times with no speaker stalled ${FAIL_AFTER_MS} ms or more`);
    assert.equal(holdersText(holdersAfter), holdersText(holdersBefore), 'every address is on the same node');
  });
});
