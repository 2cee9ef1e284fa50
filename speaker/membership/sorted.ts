/** Binary-search helpers for the detector's sorted member list (kept sorted, never re-sorted). */
export function lowerBound(sorted: readonly string[], value: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function insertSorted(sorted: string[], value: string): void {
  const i = lowerBound(sorted, value);
  if (sorted[i] !== value) sorted.splice(i, 0, value);
}

export function removeSorted(sorted: string[], value: string): void {
  const i = lowerBound(sorted, value);
  if (sorted[i] === value) sorted.splice(i, 1);
}
