/**
 * The used addresses of one range as sorted, disjoint, non-adjacent runs [first, last]. Filling
 * a pool in order keeps one run, so "lowest free address" costs O(runs), not O(addresses), and
 * a /8 or a /64 is never enumerated.
 */
export class UsedRuns {
  #firsts: bigint[] = [];
  #lasts: bigint[] = [];
  #count = 0;

  /** Number of used addresses. */
  get size(): number {
    return this.#count;
  }

  get runCount(): number {
    return this.#firsts.length;
  }

  /** Index of the first run whose last ≥ value (runs.length if none). */
  #search(value: bigint): number {
    let lo = 0;
    let hi = this.#lasts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#lasts[mid]! < value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  has(value: bigint): boolean {
    const i = this.#search(value);
    return i < this.#firsts.length && this.#firsts[i]! <= value;
  }

  /** Marks `value` used; returns false when it already was. */
  add(value: bigint): boolean {
    const i = this.#search(value);
    const firsts = this.#firsts;
    const lasts = this.#lasts;
    if (i < firsts.length && firsts[i]! <= value) return false;
    const joinsPrevious = i > 0 && lasts[i - 1]! + 1n === value;
    const joinsNext = i < firsts.length && firsts[i]! - 1n === value;
    if (joinsPrevious && joinsNext) {
      lasts[i - 1] = lasts[i]!;
      firsts.splice(i, 1);
      lasts.splice(i, 1);
    } else if (joinsPrevious) {
      lasts[i - 1] = value;
    } else if (joinsNext) {
      firsts[i] = value;
    } else {
      firsts.splice(i, 0, value);
      lasts.splice(i, 0, value);
    }
    this.#count++;
    return true;
  }

  /** Marks `value` free; returns false when it was not used. */
  delete(value: bigint): boolean {
    const i = this.#search(value);
    const firsts = this.#firsts;
    const lasts = this.#lasts;
    if (i >= firsts.length || firsts[i]! > value) return false;
    const first = firsts[i]!;
    const last = lasts[i]!;
    if (first === value && last === value) {
      firsts.splice(i, 1);
      lasts.splice(i, 1);
    } else if (first === value) {
      firsts[i] = value + 1n;
    } else if (last === value) {
      lasts[i] = value - 1n;
    } else {
      lasts[i] = value - 1n;
      firsts.splice(i + 1, 0, value + 1n);
      lasts.splice(i + 1, 0, last);
    }
    this.#count--;
    return true;
  }

  /**
   * The lowest value of [first, last] that is not used and that `skip` does not reject, or
   * undefined. `skip` must reject only a few values in a row (avoid-buggy-ips: .255 then .0).
   */
  lowestFree(first: bigint, last: bigint, skip?: (value: bigint) => boolean): bigint | undefined {
    let candidate = first;
    const next = (v: bigint): bigint => {
      while (skip && v <= last && skip(v)) v++;
      return v;
    };
    for (let i = this.#search(first); i < this.#firsts.length; i++) {
      candidate = next(candidate);
      if (candidate > last) return undefined;
      if (candidate < this.#firsts[i]!) return candidate;
      if (candidate <= this.#lasts[i]!) candidate = this.#lasts[i]! + 1n;
    }
    candidate = next(candidate);
    return candidate <= last ? candidate : undefined;
  }

  /** Every run, for invariant checks and tests. */
  runs(): [bigint, bigint][] {
    return this.#firsts.map((f, i) => [f, this.#lasts[i]!]);
  }
}
