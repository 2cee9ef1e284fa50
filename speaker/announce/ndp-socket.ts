import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import { FulcrumError, errorMessage } from '../../src/errors.js';
import { ipv6ToBytes } from './addr.js';
import { ICMPV6_NEIGHBOR_ADVERTISEMENT, ICMPV6_NEIGHBOR_SOLICITATION, NDP_HOP_LIMIT } from './ndp.js';

/**
 * The ICMPv6 adapter for one interface, on raw-socket: a raw IPPROTO_ICMPV6 socket bound to the
 * interface, filtered to solicitations and advertisements, hop limit 255 on everything it sends,
 * and solicited-node group membership on demand. No policy here.
 */

// linux/socket.h, linux/in6.h, linux/icmpv6.h
const SOL_SOCKET = 1;
const SO_BINDTODEVICE = 25;
const IPPROTO_IPV6 = 41;
const IPPROTO_ICMPV6 = 58;
const ICMP6_FILTER = 1;
const IPV6_UNICAST_HOPS = 16;
const IPV6_MULTICAST_IF = 17;
const IPV6_MULTICAST_HOPS = 18;
const IPV6_MULTICAST_LOOP = 19;
const IPV6_ADD_MEMBERSHIP = 20;
const IPV6_DROP_MEMBERSHIP = 21;

interface RawSocket {
  on(event: 'message', fn: (buffer: Buffer, source: string) => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  setOption(level: number, option: number, value: number): void;
  setOption(level: number, option: number, value: Buffer, length: number): void;
  send(buffer: Buffer, offset: number, length: number, address: string, after: (err: Error | null, bytes: number) => void): void;
  close(): void;
}
interface RawSocketModule {
  createSocket(options: { protocol: number; addressFamily: number }): RawSocket;
  AddressFamily: { IPv6: number };
}
const raw = createRequire(import.meta.url)('raw-socket') as RawSocketModule;

export type MessageHandler = (icmp: Buffer, source: string) => void;

export interface NdpSocket {
  readonly ifname: string;
  /** Sends an ICMPv6 message; the kernel adds the IPv6 header and the checksum. */
  send(icmp: Buffer, destination: string, done: (err: Error | null) => void): void;
  join(group: string): void;
  leave(group: string): void;
  close(): void;
}

/** struct icmp6_filter: 256 bits, a set bit blocks that ICMPv6 type (Linux semantics). */
function icmpFilterPassing(types: readonly number[]): Buffer {
  const words = new Uint32Array(8).fill(0xffffffff);
  for (const t of types) words[t >> 5]! &= ~(1 << (t & 31)) >>> 0;
  const out = Buffer.alloc(32);
  words.forEach((w, i) => (endianness() === 'LE' ? out.writeUInt32LE(w >>> 0, i * 4) : out.writeUInt32BE(w >>> 0, i * 4)));
  return out;
}

/** struct ipv6_mreq: the group, then the interface index as a host-order int. */
function membership(group: string, ifindex: number): Buffer {
  const out = Buffer.alloc(20);
  ipv6ToBytes(group).copy(out, 0);
  if (endianness() === 'LE') out.writeInt32LE(ifindex, 16);
  else out.writeInt32BE(ifindex, 16);
  return out;
}

export function openNdpSocket(ifname: string, ifindex: number, onMessage: MessageHandler, onError: (err: Error) => void): NdpSocket {
  const fail = (what: string, err: unknown): never => {
    throw new FulcrumError('FUL_ERR_NDP_SOCKET', { action: what, iface: ifname, reason: errorMessage(err) }, { cause: err });
  };
  let sock: RawSocket;
  try {
    sock = raw.createSocket({ protocol: IPPROTO_ICMPV6, addressFamily: raw.AddressFamily.IPv6 });
  } catch (err) {
    return fail('opening a raw ICMPv6 socket', err);
  }
  try {
    const name = Buffer.from(`${ifname}\0`);
    sock.setOption(SOL_SOCKET, SO_BINDTODEVICE, name, name.length);
    const filter = icmpFilterPassing([ICMPV6_NEIGHBOR_SOLICITATION, ICMPV6_NEIGHBOR_ADVERTISEMENT]);
    sock.setOption(IPPROTO_ICMPV6, ICMP6_FILTER, filter, filter.length);
    sock.setOption(IPPROTO_IPV6, IPV6_UNICAST_HOPS, NDP_HOP_LIMIT);
    sock.setOption(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, NDP_HOP_LIMIT);
    sock.setOption(IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex);
    sock.setOption(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0); // our own announcements are not input
  } catch (err) {
    sock.close();
    return fail('configuring the raw ICMPv6 socket', err);
  }
  sock.on('message', onMessage);
  sock.on('error', onError);
  return {
    ifname,
    send(icmp, destination, done) {
      sock.send(icmp, 0, icmp.length, destination.split('%')[0]!, (err) => done(err));
    },
    join(group) {
      const mreq = membership(group, ifindex);
      try {
        sock.setOption(IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, mreq, mreq.length);
      } catch (err) {
        fail(`joining ${group}`, err);
      }
    },
    leave(group) {
      const mreq = membership(group, ifindex);
      try {
        sock.setOption(IPPROTO_IPV6, IPV6_DROP_MEMBERSHIP, mreq, mreq.length);
      } catch (err) {
        fail(`leaving ${group}`, err);
      }
    },
    close() {
      sock.close();
    },
  };
}
