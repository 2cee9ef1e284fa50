import { waitFor, type LabProcess } from './netns.js';

/**
 * ARP and NDP seen on the lab's bridge: tcpdump in the switch namespace, one line per frame,
 * parsed into events. Tests use it to check that no node but the owner ever answers for an
 * address, and to see gratuitous ARP / unsolicited neighbour advertisements on takeover.
 */

export type NeighbourOp = 'arp-request' | 'arp-reply' | 'ndp-solicit' | 'ndp-advert';

export interface NeighbourEvent {
  /** Capture time, seconds since the epoch (tcpdump -tt, microseconds). */
  readonly time: number;
  /** The switch port the frame came in on (`<prefix>-n1`, `<prefix>-cl`, `<prefix>-hp`). */
  readonly port: string;
  /** Ethernet source address. */
  readonly srcMac: string;
  readonly op: NeighbourOp;
  /** The address asked about (request, solicitation) or announced (reply, advertisement). */
  readonly targetIp: string;
  /** ARP sender address, or the IPv6 source address. */
  readonly senderIp: string;
  /**
   * Gratuitous: an ARP request whose sender and target are the same address, an ARP reply to
   * the broadcast address, or a neighbour advertisement to all-nodes (ff02::1), i.e. unsolicited.
   */
  readonly gratuitous: boolean;
}

// tcpdump -i any -e -n -tt (link type LINUX_SLL2): time, interface, packet type (In, Out,
// B broadcast, M multicast, P to another host), ifindex, source MAC, ethertype, then the packet:
// 1795440456.313610 ful-cl B   ifindex 5 02:1a:b0:00:02:01 ethertype ARP (0x0806), length 48: Request who-has 192.0.2.11 tell 192.0.2.2, length 28
// 1795440456.313646 ful-n1 P   ifindex 3 02:1a:b0:00:01:01 ethertype ARP (0x0806), length 48: Reply 192.0.2.11 is-at 02:1a:b0:00:01:01, length 28
// 1795440456.317758 ful-cl M   ifindex 5 02:1a:b0:00:02:01 ethertype IPv6 (0x86dd), length 92: 2001:db8::2 > ff02::1:ff00:12: ICMP6, neighbor solicitation, who has 2001:db8::12, length 32
// 1795440456.317795 ful-n2 P   ifindex 4 02:1a:b0:00:01:02 ethertype IPv6 (0x86dd), length 92: 2001:db8::12 > 2001:db8::2: ICMP6, neighbor advertisement, tgt is 2001:db8::12, length 32
const HEAD_RE = /^(\d+\.\d+)\s+(\S+)\s+(In|Out|B|M|P)\s+ifindex\s+\d+\s+([0-9a-f]{2}(?::[0-9a-f]{2}){5})\s+ethertype\s+(ARP|IPv6)\b[^:]*:\s*(.*)$/i;
const ARP_REQUEST_RE = /^Request who-has (\S+?)(?: \([^)]*\))? tell (\S+?),/;
const ARP_REPLY_RE = /^Reply (\S+) is-at [0-9a-f:]+/;
const NDP_RE = /^(\S+) > (\S+): ICMP6, neighbor (solicitation|advertisement), (?:who has|tgt is) ([0-9a-f:.]+)/;

/** Parses one tcpdump line (`-i any -tt -n -e`); undefined for anything that is not ARP or NS/NA. Pure. */
export function parseNeighbourLine(line: string): NeighbourEvent | undefined {
  const head = HEAD_RE.exec(line.trim());
  if (!head) return undefined;
  const [, time, port, packetType, srcMac, ethertype, rest] = head as unknown as [string, string, string, string, string, string, string];
  const base = { time: Number(time), port, srcMac: srcMac.toLowerCase() };
  if (ethertype.toUpperCase() === 'ARP') {
    const req = ARP_REQUEST_RE.exec(rest);
    if (req) return { ...base, op: 'arp-request', targetIp: req[1]!, senderIp: req[2]!, gratuitous: req[1] === req[2] };
    const rep = ARP_REPLY_RE.exec(rest);
    // in a reply the announced address is the sender's own
    if (rep) return { ...base, op: 'arp-reply', targetIp: rep[1]!, senderIp: rep[1]!, gratuitous: packetType === 'B' };
    return undefined;
  }
  const ndp = NDP_RE.exec(rest);
  if (!ndp) return undefined;
  const [, src, dst, kind, target] = ndp as unknown as [string, string, string, string, string];
  if (kind === 'solicitation') return { ...base, op: 'ndp-solicit', targetIp: target, senderIp: src, gratuitous: false };
  return { ...base, op: 'ndp-advert', targetIp: target, senderIp: src, gratuitous: dst === 'ff02::1' };
}

/** tcpdump filter: ARP, and ICMPv6 neighbour solicitations (135) and advertisements (136) without extension headers. */
export const NEIGHBOUR_FILTER = 'arp or (icmp6 and (ip6[40] == 135 or ip6[40] == 136))';

export class NeighbourCapture {
  readonly #events: NeighbourEvent[] = [];
  #process: LabProcess | undefined;
  readonly #ignoreInterface: string | undefined;

  /** `ignoreInterface`: frames seen on this interface (the bridge itself, a second copy of each flooded frame) are not kept. */
  constructor(ignoreInterface?: string) {
    this.#ignoreInterface = ignoreInterface;
  }

  /** The listener to pass as `onStdoutLine` of the tcpdump process. */
  readonly onLine = (line: string): void => {
    const e = parseNeighbourLine(line);
    if (e && e.port !== this.#ignoreInterface) this.#events.push(e);
  };

  attach(process: LabProcess): void {
    this.#process = process;
  }

  /** Events so far (the capture keeps running). */
  events(): NeighbourEvent[] {
    return [...this.#events];
  }

  /** Polls until an event matches, or throws FUL_ERR_LAB_TIMEOUT. */
  waitForEvent(what: string, match: (e: NeighbourEvent) => boolean, timeoutMs: number): Promise<NeighbourEvent> {
    return waitFor(`${what} on the bridge`, () => this.#events.find(match), timeoutMs);
  }

  /** Stops tcpdump and returns every event captured. */
  async stop(): Promise<NeighbourEvent[]> {
    const p = this.#process;
    if (p) {
      // tcpdump -l writes each line at once; SIGINT makes it exit cleanly
      p.signal('SIGINT');
      const timer = setTimeout(() => p.signal('SIGKILL'), 2000);
      await p.exited;
      clearTimeout(timer);
    }
    return this.events();
  }
}
