import type { Ownership } from './announce/decide.js';

/**
 * The addresses this node answers for, with the interfaces each is announced on: written by the
 * controller (only once the address's proxy listens), read by the ARP/NDP responder for every
 * request through `ownsAddress`. Created first and handed to both, so neither is built from the
 * other.
 */
export class ServedAddresses {
  readonly #served = new Map<string, readonly string[]>();

  /** The responder's question, read for every ARP request and solicitation. */
  readonly ownsAddress = (ip: string, iface: string): Ownership => {
    const ifaces = this.#served.get(ip);
    if (!ifaces) return { announce: false, reason: 'notOwner' };
    return ifaces.includes(iface) ? { announce: true } : { announce: false, reason: 'notThisInterface' };
  };

  get(ip: string): readonly string[] | undefined {
    return this.#served.get(ip);
  }

  set(ip: string, interfaces: readonly string[]): void {
    this.#served.set(ip, interfaces);
  }

  delete(ip: string): void {
    this.#served.delete(ip);
  }

  clear(): void {
    this.#served.clear();
  }

  get size(): number {
    return this.#served.size;
  }

  /** A copy, for the transition's input. */
  snapshot(): ReadonlyMap<string, readonly string[]> {
    return new Map(this.#served);
  }

  addresses(): string[] {
    return [...this.#served.keys()].sort();
  }
}
