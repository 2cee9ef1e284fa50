import { KIND_PRINTERS } from '../lab/apiserver/table-printers.js';
import type { Obj } from '../lab/apiserver/table-cells.js';

/**
 * The components section of `fulcrum status`: the Pods of Fulcrum's allocator and speakers (the
 * real Deployment's and DaemonSet's, or the lab's, lab/component-pod-status.ts) as rows with
 * kubectl's READY, STATUS and RESTARTS (kube's printPod, the one the API emulator serves:
 * lab/apiserver/table-printers.ts). Pure: wire-form Pods (JSON, timestamps as strings) and `now`
 * in, rows and text out; bin/status-command.ts lists them.
 */

/** The label every manifest and the chart put on Fulcrum's objects; the component label tells allocator from speaker. */
export const COMPONENT_SELECTOR = 'app.kubernetes.io/part-of=fulcrum,app.kubernetes.io/component';
export const DEFAULT_SYSTEM_NAMESPACE = 'fulcrum-system';

/** One Pod in `-o json` (times as RFC 3339, none relative to now). */
export interface ComponentStatusRow {
  namespace: string;
  name: string;
  /** `allocator`, `speaker` (app.kubernetes.io/component); null when unlabelled. */
  component: string | null;
  /** spec.nodeName; null before scheduling (and for the lab's allocator, which runs on no Node). */
  node: string | null;
  /** Ready containers / containers, as kubectl: "1/1". */
  ready: string;
  /** As kubectl's STATUS: Running, CrashLoopBackOff, Error, Completed, Pending, Terminating… */
  status: string;
  /** The containers' restartCount, summed. */
  restarts: number;
  /** The latest lastState.terminated.finishedAt: when the last restart's container ended; null without one. */
  lastRestartAt: string | null;
  createdAt: string | null;
}

// kube's printPod columns: NAME, READY, STATUS, RESTARTS, AGE (then the wide ones)
const READY = 1;
const STATUS = 2;
const RESTARTS = 3;
const AGE = 4;

function text(o: unknown, ...path: string[]): string | null {
  let cur = o;
  for (const p of path) cur = cur && typeof cur === 'object' ? (cur as Obj)[p] : undefined;
  return typeof cur === 'string' && cur !== '' ? cur : null;
}

function containerStatuses(pod: Obj): Obj[] {
  const list = (pod.status as Obj | undefined)?.containerStatuses;
  return Array.isArray(list) ? (list as Obj[]) : [];
}

function byComponentNodeName(a: Obj, b: Obj): number {
  const key = (p: Obj) => [text(p, 'metadata', 'labels', 'app.kubernetes.io/component') ?? '', text(p, 'spec', 'nodeName') ?? '', text(p, 'metadata', 'name') ?? ''].join('\0');
  return key(a).localeCompare(key(b));
}

function sorted(pods: readonly Obj[]): Obj[] {
  return [...pods].sort(byComponentNodeName);
}

/** Pure: the JSON rows, sorted by component, node and name. */
export function componentRows(pods: readonly Obj[]): ComponentStatusRow[] {
  return sorted(pods).map((pod) => {
    // READY and STATUS do not depend on the time; 0 is as good a "now" as any
    const cells = KIND_PRINTERS.pods!.cells(pod, 0);
    const ended = containerStatuses(pod).map((c) => text(c, 'lastState', 'terminated', 'finishedAt')).filter((t): t is string => t !== null);
    return {
      namespace: text(pod, 'metadata', 'namespace') ?? '',
      name: text(pod, 'metadata', 'name') ?? '',
      component: text(pod, 'metadata', 'labels', 'app.kubernetes.io/component'),
      node: text(pod, 'spec', 'nodeName'),
      ready: String(cells[READY]),
      status: String(cells[STATUS]),
      restarts: containerStatuses(pod).reduce((n, c) => n + (typeof c.restartCount === 'number' ? c.restartCount : 0), 0),
      lastRestartAt: ended.sort((a, b) => Date.parse(b) - Date.parse(a))[0] ?? null,
      createdAt: text(pod, 'metadata', 'creationTimestamp'),
    };
  });
}

/** Pure: NAME, COMPONENT, NODE, READY, STATUS, RESTARTS ("3 (12s ago)"), AGE, as kubectl prints them at `nowMs`. */
export function formatComponentsTable(pods: readonly Obj[], nowMs: number): string {
  const header = ['NAME', 'COMPONENT', 'NODE', 'READY', 'STATUS', 'RESTARTS', 'AGE'];
  const cells = sorted(pods).map((pod) => {
    const c = KIND_PRINTERS.pods!.cells(pod, nowMs).map(String);
    const component = text(pod, 'metadata', 'labels', 'app.kubernetes.io/component') ?? '-';
    return [c[0]!, component, text(pod, 'spec', 'nodeName') ?? '-', c[READY]!, c[STATUS]!, c[RESTARTS]!, c[AGE]!];
  });
  return alignColumns([header, ...cells]);
}

/** Pure: rows of cells as columns two spaces apart, each as wide as its widest cell (the first row is the header). */
export function alignColumns(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

/** The line shown instead of the table when there is nothing to show or the user may not list Pods. */
export function componentsNote(namespace: string, reason: 'none' | 'forbidden'): string {
  return reason === 'none'
    ? `no Pods of Fulcrum's components in namespace "${namespace}" (label ${COMPONENT_SELECTOR}; another namespace: --system-namespace)\n`
    : `components not shown: this user may not list Pods in namespace "${namespace}" (403 Forbidden)\n`;
}
