import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { FulcrumError, errorMessage } from '../../src/errors.js';
import { formatMac } from './addr.js';

/**
 * The AF_PACKET adapter: one socket bound to one interface and one ethertype, from our N-API
 * addon (speaker/announce/native/packet.c, built by `npm ci` through binding.gyp). raw-socket
 * only opens IP sockets, and ARP is not IP. No policy here: frames in, frames out.
 */
export const ETH_P_ALL = 0x0003;

/** linux/if_packet.h sll_pkttype values of received frames. */
export const PacketType = { host: 0, broadcast: 1, multicast: 2, otherHost: 3, outgoing: 4 } as const;

export type FrameHandler = (frame: Buffer, pktType: number) => void;

export interface PacketSocket {
  readonly ifname: string;
  readonly ifindex: number;
  readonly mac: string;
  /** Sends one whole Ethernet frame (destination MAC first). Throws FUL_ERR_PACKET_SEND. */
  send(frame: Buffer): void;
  /** Idempotent. A socket stays open (and keeps the process alive) until closed. */
  close(): void;
}

interface NativePacketSocket {
  readonly ifindex: number;
  readonly mac: Buffer;
  send(frame: Buffer): number;
  close(): void;
}

interface PacketAddon {
  PacketSocket: new (ifname: string, ethertype: number, onFrame: FrameHandler) => NativePacketSocket;
  withNetns<T>(path: string, fn: () => T): T;
}

/** dist/speaker/announce/ → the package root, where node-gyp writes build/Release. */
export const PACKET_ADDON_PATH = fileURLToPath(new URL('../../../build/Release/fulcrum_packet.node', import.meta.url));

let addon: PacketAddon | undefined;
export function loadPacketAddon(): PacketAddon {
  if (addon) return addon;
  try {
    addon = createRequire(import.meta.url)(PACKET_ADDON_PATH) as PacketAddon;
  } catch (err) {
    throw new FulcrumError('FUL_ERR_PACKET_ADDON', { path: PACKET_ADDON_PATH, reason: errorMessage(err) }, { cause: err });
  }
  return addon;
}

export function openPacketSocket(ifname: string, ethertype: number, onFrame: FrameHandler): PacketSocket {
  const { PacketSocket: Native } = loadPacketAddon();
  let native: NativePacketSocket;
  try {
    native = new Native(ifname, ethertype, onFrame);
  } catch (err) {
    throw new FulcrumError('FUL_ERR_PACKET_SOCKET', { iface: ifname, reason: errorMessage(err) }, { cause: err });
  }
  const mac = formatMac(native.mac);
  return {
    ifname,
    ifindex: native.ifindex,
    mac,
    send(frame: Buffer): void {
      try {
        native.send(frame);
      } catch (err) {
        throw new FulcrumError('FUL_ERR_PACKET_SEND', { iface: ifname, reason: errorMessage(err) }, { cause: err });
      }
    },
    close(): void {
      native.close();
    },
  };
}

/**
 * Runs `fn` synchronously with this thread inside the network namespace `name` (from
 * `ip netns add`, or a path such as /proc/PID/ns/net), then returns. Sockets opened in `fn`
 * stay in that namespace. For tests and the lab, which drive several "nodes" from one process.
 */
export function withNetns<T>(name: string, fn: () => T): T {
  const path = name.includes('/') ? name : `/var/run/netns/${name}`;
  return loadPacketAddon().withNetns(path, fn);
}
