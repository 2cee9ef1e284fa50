import { errorMessage } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { counter } from '../../src/metrics.js';
import { execRunner, type CommandRunner } from './plumbing.js';

/**
 * Connection handoff after a takeover, the adapter (daisy chaining, as in Beamer, NSDI '18).
 *
 * In L2 mode the new owner of an address has no state for the connections the previous owner's
 * proxy terminated: its kernel would reset them as soon as their clients follow the gratuitous
 * ARP/NA. For a while after a takeover from a node that is still running (a clean stop that
 * drains, or a rebalance when a node joins), the new owner forwards to the previous owner, by
 * its node address, the TCP packets that belong to no connection it knows (no SYN and new to
 * conntrack; FIN or RST and invalid): the previous owner keeps the address on lo while its
 * proxy drains, and answers the client directly. New connections (SYN) stay here.
 *
 * After a crash the previous owner is not forwarded to, so its clients get a reset here at once
 * rather than a timeout, with one exception: kernel-mode TCP ports under `externalTrafficPolicy:
 * Local` (speaker/kernel/). Their endpoints are pods on the previous owner's node, which the new
 * owner cannot reach by hash, and their flows are lost anyway if that node is gone; but when only
 * its speaker died (a crash, an OOM kill), the node's connection tracking still forwards them to
 * its pods. Those ports alone are forwarded, by address and port.
 *
 * Two nftables tables (`ip` and `ip6`: `dup` has no `inet` form), each with a map address →
 * previous owner and a map address . port → previous owner, whose elements expire by themselves,
 * so a crash leaves nothing that lasts.
 * Without nft, or when the kernel refuses the rules, the speaker works as before and says once
 * that connections are not handed off.
 */

export const HANDOFF_TABLE = 'fulcrum_handoff';
/** The handoff chain's prerouting priority: after conntrack and after dstnat (NF_IP_PRI_NAT_DST + 10). */
export const HANDOFF_PRIORITY = -90;

const handoffs = counter('fulcrum_speaker_handoffs_total', 'Takeovers whose open connections are forwarded to the previous owner while it drains, by family', ['family']);

type Family = 'ip' | 'ip6';

const familyOf = (address: string): Family => (address.includes(':') ? 'ip6' : 'ip');

/** The nft commands that (re)create both tables, empty. Pure. */
export function handoffRuleset(): string {
  return (['ip', 'ip6'] as const)
    .map((f) => {
      const type = f === 'ip' ? 'ipv4_addr' : 'ipv6_addr';
      const chain = `${f} ${HANDOFF_TABLE} prerouting`;
      // Priority -90: after conntrack (-200), so "ct state" is known, and after dstnat (-100), so a
      // packet kernel mode DNATs (speaker/kernel/: the open flow continues here, hashed to the same
      // endpoint) no longer carries the address and is not sent to the previous owner.
      return [
        `add table ${f} ${HANDOFF_TABLE}`,
        `add map ${f} ${HANDOFF_TABLE} previous { type ${type} : ${type}; flags timeout; }`,
        `add map ${f} ${HANDOFF_TABLE} previous_port { type ${type} . inet_service : ${type}; flags timeout; }`,
        `add chain ${chain} { type filter hook prerouting priority ${HANDOFF_PRIORITY}; policy accept; }`,
        // Two rules per packet, as many as with one map: the lookups only for a connection this node does not know.
        `add chain ${f} ${HANDOFF_TABLE} unknown`,
        `add rule ${chain} tcp flags & syn == 0 ct state new goto unknown`,
        `add rule ${chain} tcp flags & (fin | rst) != 0 ct state invalid goto unknown`,
        `add rule ${f} ${HANDOFF_TABLE} unknown dup to ${f} daddr map @previous drop`,
        `add rule ${f} ${HANDOFF_TABLE} unknown dup to ${f} daddr . tcp dport map @previous_port drop`,
      ].join('\n');
    })
    .join('\n');
}

export interface HandoffEntry {
  readonly address: string;
  /** The previous owner's node address, in the address's family. */
  readonly to: string;
  /** Only these TCP ports (a crashed previous owner's Local kernel-mode ports); absent: every port. */
  readonly ports?: readonly number[];
}

/** The map elements of an entry, each with its key (`address` or `address . port`). Pure. */
function elementsOf(e: HandoffEntry): { map: 'previous' | 'previous_port'; key: string }[] {
  return e.ports === undefined ? [{ map: 'previous', key: e.address }] : e.ports.map((p) => ({ map: 'previous_port', key: `${e.address} . ${p}` }));
}

/** The element keys an entry sets, as `present` names them. Pure. */
export function handoffKeys(e: HandoffEntry): string[] {
  return elementsOf(e).map((x) => x.key);
}

/** The nft commands that (re)set the handoff of `entries` for `forMs`; `present` keys are deleted first ("add" keeps an element's old timeout). Pure. */
export function handoffCommands(entries: readonly HandoffEntry[], forMs: number, present: ReadonlySet<string>): string {
  const seconds = Math.max(1, Math.ceil(forMs / 1000));
  const lines: string[] = [];
  for (const e of entries) {
    const f = familyOf(e.address);
    for (const { map, key } of elementsOf(e)) {
      if (present.has(key)) lines.push(`delete element ${f} ${HANDOFF_TABLE} ${map} { ${key} }`);
      lines.push(`add element ${f} ${HANDOFF_TABLE} ${map} { ${key} timeout ${seconds}s : ${e.to} }`);
    }
  }
  return lines.join('\n');
}

/** What the controller needs: forward the connections it does not know, for each address, to its previous owner. */
export interface HandoffPort {
  forward(entries: readonly HandoffEntry[], forMs: number): Promise<void>;
}

export interface ConnectionHandoffOptions {
  readonly logger: Logger;
  readonly run?: CommandRunner;
}

export class ConnectionHandoff implements HandoffPort {
  readonly #log: Logger;
  readonly #run: CommandRunner;
  #enabled = false;
  /** Elements we set, by key (handoffKeys): when the kernel drops them (performance.now()). */
  readonly #expires = new Map<string, number>();

  constructor(o: ConnectionHandoffOptions) {
    this.#log = o.logger;
    this.#run = o.run ?? execRunner;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** Replaces what a crashed run left with empty tables; false (and one warning) when nft cannot. */
  async start(): Promise<boolean> {
    await this.#deleteTables();
    try {
      await this.#nft(['nft', handoffRuleset()]);
      this.#enabled = true;
    } catch (err) {
      this.#log.warn({ event: 'handoffUnavailable', err: errorMessage(err) }, 'open connections are not handed off on a takeover (nftables unavailable); they get a reset when their address moves');
    }
    return this.#enabled;
  }

  async forward(entries: readonly HandoffEntry[], forMs: number): Promise<void> {
    if (!this.#enabled || entries.length === 0) return;
    const now = performance.now();
    for (const [key, until] of this.#expires) if (until <= now) this.#expires.delete(key);
    const present = new Set(this.#expires.keys());
    try {
      // One transaction for every address: a takeover waits for one nft run, not one per address.
      await this.#nft(['nft', handoffCommands(entries, forMs, present)]).catch(() => Promise.all(entries.map((e) => this.#setOne(e, forMs))));
    } catch (err) {
      this.#log.warn({ event: 'handoffFailed', entries, err: errorMessage(err) }, 'open connections of these addresses are not handed off');
      return;
    }
    for (const e of entries) {
      for (const key of handoffKeys(e)) this.#expires.set(key, now + forMs);
      handoffs.inc({ family: familyOf(e.address) === 'ip' ? 'ipv4' : 'ipv6' });
      const what = e.ports === undefined ? e.address : `${e.address} port${e.ports.length === 1 ? '' : 's'} ${e.ports.join(', ')} (Local kernel-mode, the previous owner's speaker is down)`;
      this.#log.info({ event: 'handoff', ip: e.address, to: e.to, forMs, ...(e.ports ? { ports: e.ports } : {}) }, `connections to ${what} this node does not know go to ${e.to} for ${Math.ceil(forMs / 1000)} s`);
    }
  }

  /** One address, when the batch failed because the kernel dropped an element we thought present (or kept one we thought gone). */
  async #setOne(e: HandoffEntry, forMs: number): Promise<void> {
    await this.#nft(['nft', handoffCommands([e], forMs, new Set())]).catch(() => this.#nft(['nft', handoffCommands([e], forMs, new Set(handoffKeys(e)))]));
  }

  /** Removes both tables (clean stop). */
  async close(): Promise<void> {
    if (!this.#enabled) return;
    this.#enabled = false;
    this.#expires.clear();
    await this.#deleteTables();
  }

  async #deleteTables(): Promise<void> {
    for (const f of ['ip', 'ip6'] as const) await this.#nft(['nft', 'delete', 'table', f, HANDOFF_TABLE]).catch(() => undefined);
  }

  #nft(argv: readonly string[]): Promise<string> {
    return this.#run(argv);
  }
}
