/** Small deterministic helpers for the membership core; no I/O. */

export { seededRandom } from '../../src/random.js';

/** murmur3's 32-bit finaliser: the same round number gives every node the same shift. */
export function mixInteger(n: number): number {
  let h = (n ^ Math.floor(n / 4294967296)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Up to `count` distinct items of `from`, chosen with `random`; `from` is not modified. */
export function sample<T>(from: readonly T[], count: number, random: () => number, skip: (item: T) => boolean): T[] {
  const out: T[] = [];
  const n = from.length;
  if (n === 0 || count <= 0) return out;
  // Random start and odd stride over a power-of-two cover: visits every index once, no copy.
  let size = 1;
  while (size < n) size <<= 1;
  const start = Math.floor(random() * size);
  const stride = (Math.floor(random() * size) | 1) % size || 1;
  for (let i = 0; i < size && out.length < count; i++) {
    const idx = (start + i * stride) % size;
    if (idx >= n) continue;
    const item = from[idx]!;
    if (!skip(item)) out.push(item);
  }
  return out;
}
