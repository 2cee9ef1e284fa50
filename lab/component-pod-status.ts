import { constants } from 'node:os';
import { formatSeconds } from './restart-policy.js';

/**
 * The lab's components as Pods, the way a cluster shows the real DaemonSet's and Deployment's:
 * the Pod object of a supervisor slot (the labels and names of config/30-allocator.yaml and
 * config/31-speaker.yaml) and the status a kubelet would write for it from the supervisor's
 * facts (running, in CrashLoopBackOff, or left down), with restartCount and the last
 * termination. Pure: facts and `now` in, JSON out; lab/component-pods.ts writes it.
 */

export type ComponentKind = 'allocator' | 'speaker';

/** What the supervisor knows of one slot (lab/supervisor.ts `run`), times in ms since the epoch. */
export interface ComponentRun {
  /** running: a process is up; backOff: it died and a restart is due at `restartAt`; down: it died and stays down (--no-restart, held). */
  readonly state: 'running' | 'backOff' | 'down';
  /** The slot's first start (the Pod's startTime). */
  readonly firstStartedAt: number;
  /** The start of the current process, or of the last one when none runs. */
  readonly startedAt: number;
  /** Starts after the first (restartCount). */
  readonly restarts: number;
  /** How the previous process ended; undefined before any exit. */
  readonly lastExit: { readonly code: number | null; readonly signal: string | null; readonly startedAt: number; readonly at: number } | undefined;
  readonly restartAt: number | undefined;
  /** The delay of the pending or last restart. */
  readonly backOffMs: number | undefined;
}

/** Which component a slot runs and where: `allocator` (the lab host), `speaker <node>`. */
export interface ComponentPlace {
  readonly component: ComponentKind;
  /** The node a speaker runs on; undefined for the allocator (the lab host is no Node). */
  readonly nodeName: string | undefined;
}

/** The component of a supervisor slot name, undefined for a slot that is none of Fulcrum's. */
export function componentOfSlot(slot: string): ComponentPlace | undefined {
  if (slot === 'allocator') return { component: 'allocator', nodeName: undefined };
  const speaker = /^speaker (\S+)$/.exec(slot);
  return speaker ? { component: 'speaker', nodeName: speaker[1] } : undefined;
}

/** The Pod template labels of config/30-allocator.yaml and config/31-speaker.yaml (a unit test compares them). */
export function componentLabels(component: ComponentKind): Record<string, string> {
  return { 'app.kubernetes.io/name': `fulcrum-${component}`, 'app.kubernetes.io/part-of': 'fulcrum', 'app.kubernetes.io/component': component };
}

/** A DaemonSet pod is named `<daemonset>-<random>`; the lab's names say where it runs instead. */
export function componentPodName(place: ComponentPlace): string {
  return place.nodeName === undefined ? `fulcrum-${place.component}-lab` : `fulcrum-${place.component}-${place.nodeName}`;
}

const IMAGE = 'fulcrum-lab/fulcrum:dev';

/** The Pod object: bound to its node as the DaemonSet controller binds it (the allocator to none), with the manifests' account. */
export function componentPod(place: ComponentPlace, namespace: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: componentPodName(place), namespace, labels: componentLabels(place.component) },
    spec: {
      ...(place.nodeName === undefined ? {} : { nodeName: place.nodeName }),
      serviceAccountName: `fulcrum-${place.component}`,
      // the speaker's DaemonSet runs on the host network; the lab's speakers share their node's namespace
      hostNetwork: place.component === 'speaker',
      containers: [{ name: place.component, image: IMAGE, args: [place.component] }],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: place.component === 'speaker' ? 30 : 10,
    },
  };
}

/** Where the process runs: its node's addresses (host network), or the lab host's for the allocator. */
export interface ComponentAddresses {
  readonly hostIPs: readonly string[];
  readonly podIPs: readonly string[];
}

/** A metav1.Time: RFC 3339 to the second, as a kubelet writes it. */
function kubeTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The container runtime's exit code: the process's own, 128 + the signal's number when killed
 * (137 for SIGKILL), 128 with StartError when it never started.
 */
export function terminationOf(exit: NonNullable<ComponentRun['lastExit']>): Record<string, unknown> {
  const signalNumber = exit.signal ? (constants.signals as Record<string, number>)[exit.signal] : undefined;
  const exitCode = exit.code ?? (signalNumber === undefined ? 128 : 128 + signalNumber);
  const reason = exit.code === null && exit.signal === null ? 'StartError' : exitCode === 0 ? 'Completed' : 'Error';
  return {
    exitCode,
    ...(signalNumber === undefined ? {} : { signal: signalNumber }),
    reason,
    startedAt: kubeTime(exit.startedAt),
    finishedAt: kubeTime(exit.at),
  };
}

/** The container's state: running, waiting in CrashLoopBackOff (the kubelet's message), or terminated. */
function containerState(run: ComponentRun, container: string, podRef: string): Record<string, unknown> {
  if (run.state === 'running') return { running: { startedAt: kubeTime(run.startedAt) } };
  if (!run.lastExit) throw new Error(`component pod ${podRef}: state "${run.state}" without a last exit (incoherent supervisor slot)`);
  if (run.state === 'down') return { terminated: terminationOf(run.lastExit) };
  const backOff = run.backOffMs === undefined ? '' : ` ${formatSeconds(run.backOffMs)}`;
  return { waiting: { reason: 'CrashLoopBackOff', message: `back-off${backOff} restarting failed container=${container} pod=${podRef}` } };
}

/** The Pod status a kubelet would write for the slot now: phase Running (restartPolicy Always), ready while a process runs. */
export function componentPodStatus(place: ComponentPlace, namespace: string, run: ComponentRun, where: ComponentAddresses): Record<string, unknown> {
  const ready = run.state === 'running';
  const since = kubeTime(run.firstStartedAt);
  const readySince = kubeTime(ready || !run.lastExit ? run.startedAt : run.lastExit.at);
  const readiness = ready ? 'True' : 'False';
  const podRef = `${componentPodName(place)}_${namespace}`;
  // a down component keeps its only termination in `state`; lastState holds the one before a restart
  const lastState = run.lastExit && run.state !== 'down' ? { terminated: terminationOf(run.lastExit) } : {};
  return {
    phase: 'Running',
    hostIP: where.hostIPs[0],
    hostIPs: where.hostIPs.map((ip) => ({ ip })),
    podIP: where.podIPs[0],
    podIPs: where.podIPs.map((ip) => ({ ip })),
    startTime: since,
    qosClass: 'BestEffort',
    conditions: [
      { type: 'PodReadyToStartContainers', status: 'True', lastTransitionTime: since },
      { type: 'Initialized', status: 'True', lastTransitionTime: since },
      { type: 'Ready', status: readiness, lastTransitionTime: readySince, ...(ready ? {} : { reason: 'ContainersNotReady', message: `containers with unready status: [${place.component}]` }) },
      { type: 'ContainersReady', status: readiness, lastTransitionTime: readySince, ...(ready ? {} : { reason: 'ContainersNotReady', message: `containers with unready status: [${place.component}]` }) },
      { type: 'PodScheduled', status: 'True', lastTransitionTime: since },
    ],
    containerStatuses: [{
      name: place.component,
      image: IMAGE,
      imageID: '',
      ready,
      started: ready,
      restartCount: run.restarts,
      state: containerState(run, place.component, podRef),
      lastState,
    }],
  };
}
