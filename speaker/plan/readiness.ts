import type { Readiness } from '../../src/metrics-server.js';
import type { LivenessView } from '../membership/liveness.js';

/**
 * The speaker's `/readyz`, pure. Ready means: the caches are synced, the first plan is applied
 * (interfaces prepared, addresses served), every member has been heard from or judged by the
 * probes, so the owners this node elects are the ones its peers elect, and the addresses it
 * serves follow its latest view of the members. Until then a peer
 * that just joined may still be claiming addresses this node will take, or the other way round.
 *
 * A DaemonSet readinessProbe on it makes a rolling update wait for each restarted speaker to
 * rejoin before the next one stops, and the lab waits on it before its first check.
 */
export interface SpeakerReadinessInputs {
  readonly synced: boolean;
  /** Undefined until the first plan is applied. */
  readonly membership:
    | {
        /** Peers the probes have neither heard from nor judged yet. */
        readonly unheard: readonly string[];
        readonly view: LivenessView;
        /** The addresses served follow that view (a handover is not still being applied). */
        readonly applied: boolean;
      }
    | undefined;
}

const SHOWN_NAMES = 5;

export function speakerReadiness(i: SpeakerReadinessInputs): Readiness {
  if (!i.synced) return { ready: false, reason: 'caches not synced yet' };
  const m = i.membership;
  if (!m) return { ready: false, reason: 'starting: interfaces and the first plan are not applied yet' };
  if (m.unheard.length > 0) return { ready: false, reason: `membership: not heard from ${names(m.unheard)} yet` };
  if (!m.applied) return { ready: false, reason: 'the latest membership view is not applied yet (a handover in progress, or a failed apply being retried)' };
  if (m.view.isolated) return { ready: false, reason: `isolated from its peers (${m.view.isolation ?? 'noPeerHeard'}): answering for no address` };
  return { ready: true, detail: `${m.view.alive.size} of ${m.view.alive.size + m.view.down.size} members alive` };
}

function names(list: readonly string[]): string {
  const shown = list.slice(0, SHOWN_NAMES).join(', ');
  return list.length > SHOWN_NAMES ? `${shown} and ${list.length - SHOWN_NAMES} more` : shown;
}
