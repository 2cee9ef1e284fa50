import { FulcrumError, errorMessage } from '../../src/errors.js';
import { type Logger, componentLogger } from '../../src/log.js';
import { counter } from '../../src/metrics.js';
import type { Family } from '../../src/address.js';
import { canonicalIp, ipFamily } from './addr.js';
import { ETH_P_ARP, encodeArpFrame, gratuitousArp } from './arp.js';
import {
  CONFLICT_ANSWER_DELAY_MS,
  type ConflictState,
  type DropReason,
  GRATUITOUS_SCHEDULE_MS,
  type InterfaceIdentity,
  type OwnsAddress,
  answerArp,
  answerSolicitation,
  arpConflict,
  reannounceAfterClaim,
} from './decide.js';
import { type NdpSocket, openNdpSocket } from './ndp-socket.js';
import { ALL_NODES, encodeNeighborAdvertisement, solicitedNodeMulticast, unsolicitedAdvertisement } from './ndp.js';
import { type PacketSocket, openPacketSocket } from './packet-socket.js';

/**
 * The announcer: answers ARP requests and neighbour solicitations on the configured interfaces
 * for whatever `ownsAddress` says is ours, and sends gratuitous ARP / unsolicited neighbour
 * advertisements on `announce()`. It asks and does not decide: every answer and every
 * announcement repeat first asks `ownsAddress`, and every "no" is counted by reason.
 */

const answered = counter('fulcrum_announce_requests_answered_total', 'ARP requests and neighbour solicitations answered', ['family', 'interface']);
const gratuitousSent = counter('fulcrum_announce_gratuitous_sent_total', 'Gratuitous ARP and unsolicited neighbour advertisements sent', ['family', 'interface']);
const dropped = counter('fulcrum_announce_drops_total', 'Received or scheduled packets not answered, by reason', ['family', 'interface', 'reason']);
const claims = counter('fulcrum_announce_conflicts_total', 'ARP from another host claiming an address this node answers for, and whether it was answered with our announcement (reannounced) or within the back-off (held)', ['family', 'interface', 'action']);

type FamilyLabel = 'ipv4' | 'ipv6';
const FAMILY: Record<Family, FamilyLabel> = { IPv4: 'ipv4', IPv6: 'ipv6' };

export interface AnnouncerOptions {
  /** Interfaces to listen and announce on; nothing is answered anywhere else. */
  readonly interfaces: readonly string[];
  readonly ownsAddress: OwnsAddress;
  readonly logger?: Logger;
  /** Override of GRATUITOUS_SCHEDULE_MS (tests). */
  readonly scheduleMs?: readonly number[];
}

/** Counts of this instance (the metrics aggregate every instance of the process). */
export interface AnnouncerStats {
  answered: Record<FamilyLabel, number>;
  gratuitous: Record<FamilyLabel, number>;
  drops: Record<FamilyLabel, Partial<Record<DropReason, number>>>;
  /** Claims of our addresses by other hosts, and our announcements answering them. */
  conflicts: { seen: number; reannounced: number };
}

interface Link {
  readonly identity: InterfaceIdentity;
  readonly arp: PacketSocket;
  readonly ndp: NdpSocket | undefined;
  /** Solicited-node groups joined, with how many announced addresses need each. */
  readonly groups: Map<string, number>;
  /** Metric children bound once per interface, so the answer path does no label lookups. */
  readonly answered: Record<FamilyLabel, Incrementable>;
  readonly gratuitous: Record<FamilyLabel, Incrementable>;
  readonly drops: Map<string, Incrementable>;
}

interface Incrementable {
  inc(): void;
}

interface Announcement {
  readonly iface: string;
  readonly family: Family;
  readonly timers: NodeJS.Timeout[];
}

export class Announcer {
  readonly #ownsAddress: OwnsAddress;
  readonly #log: Logger;
  readonly #scheduleMs: readonly number[];
  readonly #links = new Map<string, Link>();
  readonly #announced = new Map<string, Announcement>();
  readonly #stats: AnnouncerStats = {
    answered: { ipv4: 0, ipv6: 0 },
    gratuitous: { ipv4: 0, ipv6: 0 },
    drops: { ipv4: {}, ipv6: {} },
    conflicts: { seen: 0, reannounced: 0 },
  };
  /** Per claimed address: the back-off of our answers (decide.ts reannounceAfterClaim) and the pending answer. */
  readonly #claims = new Map<string, { state: ConflictState; answer: NodeJS.Timeout | undefined }>();
  #closed = false;

  /** Opens the sockets synchronously (so that `withNetns` can place them). */
  constructor(options: AnnouncerOptions) {
    this.#ownsAddress = options.ownsAddress;
    this.#log = options.logger ?? componentLogger('announcer');
    this.#scheduleMs = options.scheduleMs ?? GRATUITOUS_SCHEDULE_MS;
    try {
      for (const name of new Set(options.interfaces)) this.#links.set(name, this.#openLink(name));
    } catch (err) {
      this.close();
      throw err;
    }
  }

  #openLink(name: string): Link {
    const log = this.#log.child({ interface: name });
    // The handlers run from the event loop, after `link` below is assigned.
    const arp = openPacketSocket(name, ETH_P_ARP, (frame, pktType) => this.#onArp(link, frame, pktType));
    const identity: InterfaceIdentity = { name, mac: arp.mac };
    let ndp: NdpSocket | undefined;
    try {
      ndp = openNdpSocket(
        name,
        arp.ifindex,
        (icmp, source) => this.#onNdp(link, icmp, source),
        (err) => log.warn({ event: 'ndpSocketError', err }),
      );
    } catch (err) {
      // An interface without IPv6 still announces IPv4; announcing IPv6 on it fails loudly.
      log.warn({ event: 'ndpUnavailable', err: errorMessage(err) });
    }
    const link: Link = {
      identity,
      arp,
      ndp,
      groups: new Map(),
      answered: { ipv4: answered.labels('ipv4', name), ipv6: answered.labels('ipv6', name) },
      gratuitous: { ipv4: gratuitousSent.labels('ipv4', name), ipv6: gratuitousSent.labels('ipv6', name) },
      drops: new Map(),
    };
    log.info({ event: 'listening', mac: arp.mac, ipv6: ndp !== undefined });
    return link;
  }

  #drop(family: FamilyLabel, link: Link, reason: DropReason): void {
    const byReason = this.#stats.drops[family];
    byReason[reason] = (byReason[reason] ?? 0) + 1;
    const key = `${family}/${reason}`;
    let child = link.drops.get(key);
    if (!child) link.drops.set(key, (child = dropped.labels(family, link.identity.name, reason)));
    child.inc();
  }

  #onArp(link: Link, frame: Buffer, pktType: number): void {
    const claim = arpConflict(frame, pktType, link.identity, this.#ownsAddress);
    if (claim.kind === 'conflict') this.#onClaim(link, claim.ip, claim.claimedBy);
    const verdict = answerArp(frame, pktType, link.identity, this.#ownsAddress);
    if (verdict.kind === 'drop') return this.#drop('ipv4', link, verdict.reason);
    try {
      link.arp.send(encodeArpFrame(verdict.frame));
    } catch (err) {
      this.#log.warn({ event: 'arpReplyFailed', interface: link.identity.name, err: errorMessage(err) });
      return this.#drop('ipv4', link, 'sendFailed');
    }
    this.#stats.answered.ipv4++;
    link.answered.ipv4.inc();
    if (this.#log.debug()) this.#log.debug({ event: 'arpAnswered', interface: link.identity.name, ip: verdict.frame.senderIp, to: verdict.frame.targetMac });
  }

  /** Another host says our address is at its MAC: count, and answer with one announcement of ours, backing off. */
  #onClaim(link: Link, ip: string, claimedBy: string): void {
    const name = link.identity.name;
    this.#stats.conflicts.seen++;
    let claim = this.#claims.get(ip);
    const { reannounce, next } = reannounceAfterClaim(claim?.state, performance.now());
    if (!claim) this.#claims.set(ip, (claim = { state: next, answer: undefined }));
    claim.state = next;
    claims.inc({ family: 'ipv4', interface: name, action: reannounce ? 'reannounced' : 'held' });
    if (!reannounce) return;
    this.#stats.conflicts.reannounced++;
    // Logged when answered: the back-off bounds these lines as it bounds the announcements.
    this.#log.warn({ event: 'addressClaimed', ip, interface: name, claimedBy, answerInMs: CONFLICT_ANSWER_DELAY_MS, nextAnswerAfterMs: next.intervalMs }, 'another host claims an address this node owns: announcing it again unless it moved meanwhile');
    clearTimeout(claim.answer);
    // #sendAnnouncement asks ownsAddress again: a legitimate new owner's claim finds us withdrawn by then.
    const answered = claim;
    answered.answer = setTimeout(() => {
      answered.answer = undefined;
      this.#sendAnnouncement(link, ip, 'IPv4');
    }, CONFLICT_ANSWER_DELAY_MS);
  }

  #onNdp(link: Link, icmp: Buffer, source: string): void {
    const verdict = answerSolicitation(icmp, source, link.identity, this.#ownsAddress);
    if (verdict.kind === 'drop') return this.#drop('ipv6', link, verdict.reason);
    link.ndp!.send(encodeNeighborAdvertisement(verdict.advertisement), verdict.destination, (err) => {
      if (err) {
        this.#log.warn({ event: 'ndpReplyFailed', interface: link.identity.name, err: errorMessage(err) });
        return this.#drop('ipv6', link, 'sendFailed');
      }
      this.#stats.answered.ipv6++;
      link.answered.ipv6.inc();
    });
  }

  /**
   * Starts announcing `ip` on `iface`: joins its solicited-node group (IPv6) so solicitations
   * reach us, and sends the takeover announcements on GRATUITOUS_SCHEDULE_MS. Calling it again
   * restarts the burst (a new takeover). Answers still depend on `ownsAddress` only.
   */
  announce(ip: string, iface: string): void {
    if (this.#closed) throw new FulcrumError('FUL_ERR_ANNOUNCER_CLOSED', { ip, iface });
    const link = this.#links.get(iface);
    if (!link) throw new FulcrumError('FUL_ERR_ANNOUNCE_INTERFACE', { ip, iface, reason: `is not one of ${[...this.#links.keys()].join(', ')}` });
    const address = canonicalIp(ip);
    const family = ipFamily(address);
    if (family === 'IPv6' && !link.ndp) throw new FulcrumError('FUL_ERR_ANNOUNCE_INTERFACE', { ip: address, iface, reason: 'has no IPv6 socket' });
    this.withdraw(address);
    if (family === 'IPv6') this.#joinGroup(link, solicitedNodeMulticast(address));
    const timers = this.#scheduleMs.map((delayMs) => setTimeout(() => this.#sendAnnouncement(link, address, family), delayMs));
    this.#announced.set(address, { iface, family, timers });
    this.#log.info({ event: 'announce', ip: address, interface: iface });
  }

  /** Stops the announcements of `ip` and leaves its group. Idempotent. */
  withdraw(ip: string): void {
    const address = canonicalIp(ip);
    const current = this.#announced.get(address);
    if (!current) return;
    for (const t of current.timers) clearTimeout(t);
    this.#announced.delete(address);
    clearTimeout(this.#claims.get(address)?.answer);
    this.#claims.delete(address);
    const link = this.#links.get(current.iface)!;
    if (current.family === 'IPv6') this.#leaveGroup(link, solicitedNodeMulticast(address));
    this.#log.info({ event: 'withdraw', ip: address, interface: current.iface });
  }

  /** Addresses with an active announcement (canonical form). */
  announced(): string[] {
    return [...this.#announced.keys()];
  }

  /** The MAC of each configured interface. */
  interfaces(): InterfaceIdentity[] {
    return [...this.#links.values()].map((l) => l.identity);
  }

  stats(): AnnouncerStats {
    return structuredClone(this.#stats);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const ip of [...this.#announced.keys()]) this.withdraw(ip);
    for (const c of this.#claims.values()) clearTimeout(c.answer);
    this.#claims.clear();
    for (const link of this.#links.values()) {
      link.arp.close();
      link.ndp?.close();
    }
    this.#links.clear();
  }

  #sendAnnouncement(link: Link, ip: string, family: Family): void {
    const label = FAMILY[family];
    const name = link.identity.name;
    const owned = this.#ownsAddress(ip, name);
    if (!owned.announce) return this.#drop(label, link, owned.reason);
    const counted = (): void => {
      this.#stats.gratuitous[label]++;
      link.gratuitous[label].inc();
    };
    if (family === 'IPv4') {
      try {
        link.arp.send(encodeArpFrame(gratuitousArp(ip, link.identity.mac)));
      } catch (err) {
        this.#log.warn({ event: 'gratuitousFailed', ip, interface: name, err: errorMessage(err) });
        return this.#drop(label, link, 'sendFailed');
      }
      return counted();
    }
    link.ndp!.send(encodeNeighborAdvertisement(unsolicitedAdvertisement(ip, link.identity.mac)), ALL_NODES, (err) => {
      if (!err) return counted();
      this.#log.warn({ event: 'gratuitousFailed', ip, interface: name, err: errorMessage(err) });
      this.#drop(label, link, 'sendFailed');
    });
  }

  #joinGroup(link: Link, group: string): void {
    const users = link.groups.get(group) ?? 0;
    // Several addresses can share one solicited-node group; the kernel refuses a second join.
    if (users === 0) link.ndp!.join(group);
    link.groups.set(group, users + 1);
  }

  #leaveGroup(link: Link, group: string): void {
    const users = link.groups.get(group) ?? 0;
    if (users === 0) throw new FulcrumError('FUL_ERR_ANNOUNCER_STATE', { group, iface: link.identity.name });
    if (users === 1) {
      link.groups.delete(group);
      link.ndp!.leave(group);
    } else link.groups.set(group, users - 1);
  }
}
