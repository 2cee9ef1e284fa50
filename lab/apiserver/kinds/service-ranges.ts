import { isIP } from 'node:net';
import { FulcrumError } from '../../../src/errors.js';

/** Parses an IPv4 or IPv6 address into a bigint (no validation beyond node:net's). */
export function ipToBigint(ip: string): bigint {
  if (isIP(ip) === 4) return ip.split('.').reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n);
  let s = ip;
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4tail) {
    const n = ipToBigint(v4tail[1]!);
    s = s.slice(0, -v4tail[1]!.length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

export function bigintToIp(n: bigint, family: 4 | 6): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join('.');
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((n >> BigInt(i * 16)) & 0xffffn).toString(16));
  // compress the longest run of zero groups, as Go prints IPv6
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/**
 * A CIDR from which single addresses are handed out, as the service-IP allocator does. The
 * network and broadcast (IPv4) addresses are never given out. Allocation walks from a rotating
 * cursor over a used-set, so it is O(1) amortised, not a scan of every Service.
 */
export class IpRange {
  readonly cidr: string;
  readonly family: 4 | 6;
  readonly #base: bigint;
  readonly #size: bigint;
  readonly #used = new Set<bigint>();
  #cursor = 1n;

  constructor(cidr: string) {
    const m = /^([^/]+)\/(\d+)$/.exec(cidr);
    const fam = m ? isIP(m[1]!) : 0;
    if (!m || fam === 0) throw new FulcrumError('FUL_ERR_APISERVER_SERVICE_CIDR', { cidr, reason: 'is not a CIDR' });
    this.cidr = cidr;
    this.family = fam as 4 | 6;
    const bits = fam === 4 ? 32 : 128;
    const len = Number(m[2]);
    if (len > bits - 2) throw new FulcrumError('FUL_ERR_APISERVER_SERVICE_CIDR', { cidr, reason: `is too small (a /${len} leaves no room for addresses; at most /${bits - 2})` });
    this.#size = 1n << BigInt(bits - len);
    this.#base = (ipToBigint(m[1]!) >> BigInt(bits - len)) << BigInt(bits - len);
  }

  #offset(ip: string): bigint | undefined {
    if (isIP(ip) !== this.family) return undefined;
    const off = ipToBigint(ip) - this.#base;
    return off > 0n && off < this.#size - 1n ? off : undefined;
  }

  contains(ip: string): boolean {
    return this.#offset(ip) !== undefined;
  }

  isUsed(ip: string): boolean {
    const off = this.#offset(ip);
    return off !== undefined && this.#used.has(off);
  }

  /** Marks a given address used; false when it is outside the range or taken. */
  take(ip: string): boolean {
    const off = this.#offset(ip);
    if (off === undefined || this.#used.has(off)) return false;
    this.#used.add(off);
    return true;
  }

  /** The next free address, or undefined when the range is full. */
  allocate(): string | undefined {
    const usable = this.#size - 2n;
    if (BigInt(this.#used.size) >= usable) return undefined;
    for (;;) {
      const off = this.#cursor;
      this.#cursor = this.#cursor + 1n >= this.#size - 1n ? 1n : this.#cursor + 1n;
      if (!this.#used.has(off)) {
        this.#used.add(off);
        return bigintToIp(this.#base + off, this.family);
      }
    }
  }

  release(ip: string): void {
    const off = this.#offset(ip);
    if (off !== undefined) this.#used.delete(off);
  }
}

/** The node-port range 30000–32767 as a used-set with a rotating cursor. */
export class PortRange {
  readonly min: number;
  readonly max: number;
  readonly #used = new Set<number>();
  #cursor: number;

  constructor(min = 30000, max = 32767) {
    this.min = min;
    this.max = max;
    this.#cursor = min;
  }

  inRange(p: number): boolean {
    return Number.isInteger(p) && p >= this.min && p <= this.max;
  }

  isUsed(p: number): boolean {
    return this.#used.has(p);
  }

  take(p: number): boolean {
    if (!this.inRange(p) || this.#used.has(p)) return false;
    this.#used.add(p);
    return true;
  }

  allocate(): number | undefined {
    if (this.#used.size > this.max - this.min) return undefined;
    for (;;) {
      const p = this.#cursor;
      this.#cursor = p >= this.max ? this.min : p + 1;
      if (!this.#used.has(p)) {
        this.#used.add(p);
        return p;
      }
    }
  }

  release(p: number): void {
    this.#used.delete(p);
  }
}
