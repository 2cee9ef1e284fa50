import { fileURLToPath } from 'node:url';
import { FulcrumError } from '../src/errors.js';
import { ownerSeenByClient } from './check.js';
import { allEndedUpTo, FAULT_TITLES, FAULTS, formatFailoverRow, measureGap, parseAttemptLine, type Attempt, type FailoverRow, type FaultKind } from './failover-measure.js';
import type { Lab } from './lab.js';
import { execCommand, waitFor } from './netns.js';

/**
 * `fulcrum lab --failover-demo`: a client in the client namespace opens a new connection every
 * 10 ms to one address (the TCP echo sample) while the lab takes its owner down three ways in
 * turn — its cable pulled (the node's switch port down), its speaker SIGKILLed, its speaker
 * SIGTERMed — and measures, for each, the longest time without a successful connection, the
 * failed attempts, and the node that took over; then restores the node (link up, speaker
 * started again) and waits until things settle before the next fault.
 */

const CLIENT = fileURLToPath(new URL('./failover-client.js', import.meta.url));
const EVERY_MS = 10;
/** A connection to a dead owner waits for SYN retransmits; a second says "failed" well before the kernel would. */
const ATTEMPT_TIMEOUT_MS = 1000;
/** Served: this many connections in a row succeeded (0.3 s at one per 10 ms). */
const IN_A_ROW = 30;
/** Failover takes about 0.3 s (bench/README.md, failover); this bounds a lab that does not fail over. */
const MOVE_TIMEOUT_MS = 30_000;
/** After a restore the speakers hear each other and the election settles within seconds; this allows for a busy machine. */
const SETTLE_TIMEOUT_MS = 60_000;
/** SIGTERM: the speaker hands its addresses over and exits within a second or two; then SIGKILL. */
const EXIT_GRACE_MS = 10_000;

export interface FailoverDemoOptions {
  /** The sample Service whose IPv4 address is taken down (default echo-tcp). */
  readonly service?: string;
  /** Called with a line per fault and per restore. */
  readonly onLine?: (line: string) => void;
}

/** Runs the three faults in turn; the measured rows, in order. Throws if an address does not fail over in time. */
export async function runFailoverDemo(lab: Lab, options: FailoverDemoOptions = {}): Promise<FailoverRow[]> {
  const say = options.onLine ?? (() => undefined);
  const name = options.service ?? 'echo-tcp';
  const svc = (await lab.services()).find((s) => s.name === name);
  const address = svc?.addresses.find((a) => !a.includes(':'));
  const port = svc?.ports.find((p) => p.protocol === 'TCP')?.port;
  if (!address || port === undefined) throw new FulcrumError('FUL_ERR_LAB_COMMAND', { command: 'lab --failover-demo', reason: `Service ${name} has no IPv4 address or TCP port` });
  await keepHostOutOfLabArp(lab);
  const attempts: Attempt[] = [];
  const client = lab.topology.spawn(lab.topology.client.namespace, process.execPath, [CLIENT, address, String(port), String(EVERY_MS), String(ATTEMPT_TIMEOUT_MS)], {
    name: 'failover client',
    onStdoutLine: (line) => {
      const a = parseAttemptLine(line);
      if (a) attempts.push(a);
    },
  });
  say(`failover demo: ${name} ${address}:${port}/TCP, a new connection from ${lab.topology.client.namespace} every ${EVERY_MS} ms (each given ${ATTEMPT_TIMEOUT_MS} ms)`);
  const rows: FailoverRow[] = [];
  try {
    for (const fault of FAULTS) rows.push(await runFault(lab, fault, address, attempts, say));
  } finally {
    await client.stop(500);
  }
  return rows;
}

async function runFault(lab: Lab, fault: FaultKind, address: string, attempts: readonly Attempt[], say: (line: string) => void): Promise<FailoverRow> {
  const owner = await settle(lab, address, attempts);
  const slot = `speaker ${owner}`;
  const speaker = lab.speakers.get(owner);
  if (!speaker) throw new FulcrumError('FUL_ERR_LAB_COMMAND', { command: 'lab --failover-demo', reason: `no speaker on ${owner}` });
  let down = true;
  const t0 = Date.now();
  try {
    if (fault === 'linkDown') await lab.topology.setNodeLink(owner, 'down');
    else {
      lab.supervisor.hold(slot);
      speaker.signal(fault === 'sigkill' ? 'SIGKILL' : 'SIGTERM');
    }
    let movedAt: number | undefined;
    const newOwner = await waitFor(`${address} served by a node other than ${owner} after ${FAULT_TITLES[fault]}`, async () => {
      const seen = await ownerSeenByClient(lab.topology, address);
      if (!seen || seen === owner || !lab.topology.nodes.some((n) => n.name === seen)) return undefined;
      movedAt ??= Date.now();
      return servedInARow(attempts, movedAt) ? seen : undefined;
    }, MOVE_TIMEOUT_MS, 20);
    const tEnd = Date.now();
    // attempts started before tEnd that are still waiting end within their own deadline
    await waitFor('every attempt of the window to end', () => allEndedUpTo(attempts, tEnd), ATTEMPT_TIMEOUT_MS * 3, 20);
    const row = { fault, oldOwner: owner, newOwner, gap: measureGap(attempts, t0, tEnd), movedMs: tEnd - t0 };
    say(`  ${formatFailoverRow({ ...row, restored: '', ownerAfterRestore: '', restoreMs: 0 })}`);
    const r0 = Date.now();
    const restored = await restore(lab, fault, owner);
    down = false;
    const after = await settle(lab, address, attempts);
    const restoreMs = Date.now() - r0;
    say(`  restored (${restored}); settled after ${(restoreMs / 1000).toFixed(1)}s: ${after === owner ? `${owner} owns ${address} again` : `${after} keeps ${address}`}`);
    return { ...row, restored, ownerAfterRestore: after, restoreMs };
  } finally {
    if (down) await restore(lab, fault, owner).catch(() => undefined);
  }
}

/** Undoes a fault: the cable plugged back, or the speaker (once gone) started again. */
async function restore(lab: Lab, fault: FaultKind, owner: string): Promise<string> {
  if (fault === 'linkDown') {
    await lab.topology.setNodeLink(owner, 'up');
    return 'link up';
  }
  const slot = `speaker ${owner}`;
  await lab.speakers.get(owner)?.stop(EXIT_GRACE_MS);
  lab.supervisor.release(slot);
  return `speaker restarted, restart ${lab.supervisor.record(slot).restarts}`;
}

/** The last IN_A_ROW attempts all succeeded and were all started at or after `since`. */
function servedInARow(attempts: readonly Attempt[], since: number): boolean {
  if (attempts.length < IN_A_ROW) return false;
  return attempts.slice(-IN_A_ROW).every((a) => a.ok && a.at >= since);
}

/**
 * Every speaker running, exactly one node holding the address (on its lo), the client resolving
 * the address to that node, and the last connections all served: the owner, ready for a fault.
 */
async function settle(lab: Lab, address: string, attempts: readonly Attempt[]): Promise<string> {
  let last = '';
  return waitFor(`${address} to settle on one owner`, async () => {
    const down = [...lab.speakers.entries()].filter(([, p]) => !p.running).map(([n]) => n);
    const holders = await vipHolders(lab, address);
    const seen = await ownerSeenByClient(lab.topology, address);
    const served = servedInARow(attempts, 0);
    last = `speakers down: ${down.join(',') || 'none'}; on lo of: ${holders.join(',') || 'none'}; client resolves it to ${seen ?? 'nothing'}; last ${IN_A_ROW} served: ${served}`;
    return down.length === 0 && holders.length === 1 && holders[0] === seen && served ? seen : undefined;
  }, SETTLE_TIMEOUT_MS, 100).catch((err: unknown) => {
    throw new FulcrumError('FUL_ERR_LAB_COMMAND', { command: 'lab --failover-demo', reason: `${address} did not settle within ${SETTLE_TIMEOUT_MS / 1000}s (${last})` }, { cause: err });
  });
}

/** The nodes that have `address` on lo, where a speaker puts the addresses it owns. */
async function vipHolders(lab: Lab, address: string): Promise<string[]> {
  const out: string[] = [];
  await Promise.all(lab.topology.nodes.map(async (n) => {
    const r = await lab.topology.exec(n.namespace, 'ip', ['-j', 'addr', 'show', 'dev', 'lo']);
    const infos = (JSON.parse(r.stdout || '[]') as { addr_info?: { local?: string }[] }[]).flatMap((l) => l.addr_info ?? []);
    if (infos.some((i) => i.local === address)) out.push(n.name);
  }));
  return out.sort();
}

/**
 * On a machine that itself has the client's address (some sandboxes have 192.0.2.2), the root
 * namespace would answer a node's ARP for the client on the lab's host link, and the new owner's
 * replies would go there. arp_ignore=1 on the host link (ours: it goes with the lab) stops that;
 * the nodes forget what they may already have learnt.
 */
async function keepHostOutOfLabArp(lab: Lab): Promise<void> {
  await execCommand('sysctl', ['-qw', `net.ipv4.conf.${lab.topology.names.hostLink}.arp_ignore=1`]);
  for (const n of lab.topology.nodes) await lab.topology.exec(n.namespace, 'ip', ['neigh', 'flush', 'to', lab.topology.client.ipv4]);
}
