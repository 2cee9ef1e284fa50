import type { ApiFailure } from './api-error.js';

/** How one watch ended; decides what the loop does next. */
export type WatchEnd =
  | { kind: 'closed'; events: number }
  | { kind: 'expired'; events: number; reason: 'gone' | 'tooLargeResourceVersion' }
  | { kind: 'failed'; events: number; failure: ApiFailure }
  | { kind: 'stalled'; events: number }
  | { kind: 'stopped'; events: number };

/**
 * 410 Gone / Expired means our resourceVersion was compacted away; a 504 "Too large resource
 * version" means the server's history restarted below it. Both are cured only by a relist.
 */
export function expiredOrFailed(failure: ApiFailure, events: number): WatchEnd {
  if (failure.kind === 'http' && failure.code === 410) return { kind: 'expired', events, reason: 'gone' };
  if (failure.kind === 'http' && failure.code === 504 && /too large resource version/i.test(failure.message)) {
    return { kind: 'expired', events, reason: 'tooLargeResourceVersion' };
  }
  return { kind: 'failed', events, failure };
}
