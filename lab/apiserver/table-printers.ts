import { AGE, arr, get, NAME, since, str, age, type Obj, type Printer } from './table-cells.js';

/**
 * kube-apiserver's Table printers (pkg/printers/internalversion/printers.go, v1.37) for the
 * kinds a lab user lists most: events, endpoints, endpointslices, leases, nodes and pods. The
 * server prints every column, the wide ones (priority 1) included; kubectl hides those without
 * `-o wide`. Pure.
 */

const string = (name: string, description: string, priority = 0) => ({ name, type: 'string' as const, description, ...(priority ? { priority } : {}) });

/** Up to three, then "+ N more..."; `<unset>` when empty (kube's listWithMoreString). */
function listWithMore(items: readonly string[], max = 3): string {
  if (items.length === 0) return '<unset>';
  return items.length > max ? `${items.slice(0, max).join(',')} + ${items.length - max} more...` : items.join(',');
}

function joinHostPort(ip: string, port: unknown): string {
  return ip.includes(':') ? `[${ip}]:${String(port)}` : `${ip}:${String(port)}`;
}

/** Endpoints' subsets as kube's formatEndpoints: ip:port for each port and address, three at most. */
function endpointsText(ep: Obj): string {
  const subsets = arr(ep, 'subsets');
  if (subsets.length === 0) return '<none>';
  const list: string[] = [];
  let count = 0;
  for (const ss of subsets) {
    const addrs = arr(ss, 'addresses').map((a) => str(a, 'ip'));
    const ports = arr(ss, 'ports');
    if (ports.length === 0) {
      count += addrs.length;
      list.push(...addrs);
      continue;
    }
    for (const p of ports) {
      count += addrs.length;
      list.push(...addrs.map((ip) => joinHostPort(ip, p.port)));
    }
  }
  const shown = list.slice(0, 3).join(',');
  return count > 3 && list.length > 3 ? `${shown} + ${count - 3} more...` : shown;
}

/** A core/v1 Event's printed fields, from either wire form (core/v1 or events.k8s.io/v1, which the same printer serves). */
function eventFields(e: Obj): { first: string; last: string; micro: string; seriesLast: string; count: number; series: boolean; kind: string; name: string; fieldPath: string; component: string; host: string; message: string } {
  const core = get(e, 'involvedObject') !== undefined || get(e, 'regarding') === undefined;
  const pick = (coreKey: string, v1Key: string) => (core ? get(e, coreKey) : get(e, v1Key));
  const involved = (core ? get(e, 'involvedObject') : get(e, 'regarding')) as Obj | undefined;
  const source = (pick('source', 'deprecatedSource') as Obj | undefined) ?? {};
  const count = pick('count', 'deprecatedCount');
  return {
    first: String(pick('firstTimestamp', 'deprecatedFirstTimestamp') ?? ''),
    last: String(pick('lastTimestamp', 'deprecatedLastTimestamp') ?? ''),
    micro: str(e, 'eventTime'),
    series: get(e, 'series') !== undefined && get(e, 'series') !== null,
    seriesLast: str(e, 'series', 'lastObservedTime'),
    count: get(e, 'series') ? Number(get(e, 'series', 'count') ?? 0) : typeof count === 'number' ? count : 0,
    kind: str(involved, 'kind'),
    name: str(involved, 'name'),
    fieldPath: str(involved, 'fieldPath'),
    component: str(source, 'component') || str(e, 'reportingController') || str(e, 'reportingComponent'),
    host: str(source, 'host') || str(e, 'reportingInstance'),
    message: String(pick('message', 'note') ?? ''),
  };
}

function eventCells(e: Obj, now: number): (string | number)[] {
  const f = eventFields(e);
  const first = f.first ? since(f.first, now) : since(f.micro, now);
  const last = f.series ? since(f.seriesLast, now) : f.last ? since(f.last, now) : first;
  const count = f.series ? f.count : f.count === 0 ? 1 : f.count;
  const target = f.name ? `${f.kind.toLowerCase()}/${f.name}` : f.kind.toLowerCase();
  const source = f.host ? `${f.component}, ${f.host}` : f.component;
  return [last, str(e, 'type'), str(e, 'reason'), target, f.fieldPath, source, f.message.trim(), first, count, str(e, 'metadata', 'name')];
}

function nodeStatus(node: Obj): string {
  const ready = arr(node, 'status', 'conditions').find((c) => c.type === 'Ready');
  const status = [ready ? (ready.status === 'True' ? 'Ready' : 'NotReady') : 'Unknown'];
  if (get(node, 'spec', 'unschedulable') === true) status.push('SchedulingDisabled');
  return status.join(',');
}

function nodeRoles(node: Obj): string {
  const labels = (get(node, 'metadata', 'labels') as Record<string, string> | undefined) ?? {};
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(labels)) {
    if (k.startsWith('node-role.kubernetes.io/') && k.length > 'node-role.kubernetes.io/'.length) roles.add(k.slice('node-role.kubernetes.io/'.length));
    else if (k === 'kubernetes.io/role' && v !== '') roles.add(v);
  }
  return roles.size ? [...roles].sort().join(',') : '<none>';
}

function nodeAddress(node: Obj, type: string): string {
  return (arr(node, 'status', 'addresses').find((a) => a.type === type)?.address as string | undefined) ?? '<none>';
}

function nodeCells(n: Obj, now: number): string[] {
  const info = (k: string) => str(n, 'status', 'nodeInfo', k);
  const arch = info('architecture');
  const kernel = info('kernelVersion') || '<unknown>';
  return [
    str(n, 'metadata', 'name'), nodeStatus(n), nodeRoles(n), age(n, now), info('kubeletVersion'),
    nodeAddress(n, 'InternalIP'), nodeAddress(n, 'ExternalIP'), info('osImage') || '<unknown>', arch ? `${kernel} (${arch})` : kernel, info('containerRuntimeVersion') || '<unknown>',
  ];
}

/** The latest `finishedAt` of the containers' last terminations (for "3 (2m ago)"); -Infinity when none. */
function latestTermination(statuses: readonly Obj[]): number {
  let latest = -Infinity;
  for (const c of statuses) {
    const t = Date.parse(str(c, 'lastState', 'terminated', 'finishedAt'));
    if (Number.isFinite(t) && t > latest) latest = t;
  }
  return latest;
}

/** kube's printPod: READY, STATUS (the reason a user reads), RESTARTS; init containers included. */
function podCells(pod: Obj, now: number): string[] {
  const phase = str(pod, 'status', 'phase');
  let reason = str(pod, 'status', 'reason') || phase;
  if (arr(pod, 'status', 'conditions').some((c) => c.type === 'PodScheduled' && c.reason === 'SchedulingGated')) reason = 'SchedulingGated';
  const initSpecs = new Map(arr(pod, 'spec', 'initContainers').map((c) => [str(c, 'name'), c]));
  const restartable = (name: string) => get(initSpecs.get(name), 'restartPolicy') === 'Always';
  const total = arr(pod, 'spec', 'containers').length + [...initSpecs.keys()].filter(restartable).length;
  let ready = 0;
  const inits = arr(pod, 'status', 'initContainerStatuses');
  let restarts = 0;
  let lastRestart = latestTermination(inits);
  let initializing = false;
  for (const [i, c] of inits.entries()) {
    restarts += Number(c.restartCount ?? 0);
    const terminated = get(c, 'state', 'terminated') as Obj | undefined;
    const waiting = str(c, 'state', 'waiting', 'reason');
    if (terminated && Number(terminated.exitCode ?? 0) === 0) continue;
    if (restartable(str(c, 'name')) && c.started === true) {
      if (c.ready === true) ready++;
      continue;
    }
    if (terminated) reason = `Init:${str(terminated, 'reason') || (terminated.signal ? `Signal:${String(terminated.signal)}` : `ExitCode:${String(terminated.exitCode ?? 0)}`)}`;
    else if (waiting && waiting !== 'PodInitializing') reason = `Init:${waiting}`;
    else reason = `Init:${i}/${initSpecs.size}`;
    initializing = true;
    break;
  }
  const initialized = arr(pod, 'status', 'conditions').some((c) => c.type === 'Initialized' && c.status === 'True');
  if (!initializing || initialized) {
    const restartableInits = inits.filter((c) => restartable(str(c, 'name')));
    restarts = restartableInits.reduce((n, c) => n + Number(c.restartCount ?? 0), 0);
    lastRestart = latestTermination(restartableInits);
    let hasRunning = false;
    let errorReason = '';
    const statuses = arr(pod, 'status', 'containerStatuses');
    for (const c of [...statuses].reverse()) {
      restarts += Number(c.restartCount ?? 0);
      lastRestart = Math.max(lastRestart, latestTermination([c]));
      const waiting = str(c, 'state', 'waiting', 'reason');
      const terminated = get(c, 'state', 'terminated') as Obj | undefined;
      if (waiting) reason = waiting;
      else if (terminated) {
        reason = str(terminated, 'reason') || (terminated.signal ? `Signal:${String(terminated.signal)}` : `ExitCode:${String(terminated.exitCode ?? 0)}`);
        if (Number(terminated.exitCode ?? 0) !== 0) errorReason = reason;
      } else if (c.ready === true && get(c, 'state', 'running') !== undefined) {
        hasRunning = true;
        ready++;
      }
    }
    if (reason === 'Completed') {
      const podReady = arr(pod, 'status', 'conditions').some((c) => c.type === 'Ready' && c.status === 'True');
      if (hasRunning && podReady) reason = 'Running';
      else if (errorReason) reason = errorReason;
      else if (hasRunning) reason = 'NotReady';
    }
  }
  const deleting = get(pod, 'metadata', 'deletionTimestamp');
  if (deleting && str(pod, 'status', 'reason') === 'NodeLost') reason = 'Unknown';
  else if (deleting && phase !== 'Succeeded' && phase !== 'Failed') reason = 'Terminating';
  const restartText = restarts !== 0 && Number.isFinite(lastRestart) ? `${restarts} (${since(new Date(lastRestart).toISOString(), now)} ago)` : String(restarts);
  const gates = arr(pod, 'spec', 'readinessGates');
  const conditions = arr(pod, 'status', 'conditions');
  const gatesTrue = gates.filter((g) => conditions.find((c) => c.type === g.conditionType)?.status === 'True').length;
  return [
    str(pod, 'metadata', 'name'), `${ready}/${total}`, reason, restartText, age(pod, now),
    str(arr(pod, 'status', 'podIPs')[0], 'ip') || '<none>', str(pod, 'spec', 'nodeName') || '<none>', str(pod, 'status', 'nominatedNodeName') || '<none>',
    gates.length ? `${gatesTrue}/${gates.length}` : '<none>',
  ];
}

export const KIND_PRINTERS: Readonly<Record<string, Printer>> = {
  events: {
    columns: [
      string('Last Seen', 'The time at which the most recent occurrence of this event was recorded.'),
      string('Type', 'Type of this event (Normal, Warning), new types could be added in the future'),
      string('Reason', 'This should be a short, machine understandable string that gives the reason for the transition into the object\'s current status.'),
      string('Object', 'The object that this event is about.'),
      string('Subobject', 'The field of the object the event is about (fieldPath).', 1),
      string('Source', 'The component reporting this event.', 1),
      string('Message', 'A human-readable description of the status of this operation.'),
      string('First Seen', 'The time at which the event was first recorded.', 1),
      string('Count', 'The number of times this event has occurred.', 1),
      { ...string('Name', NAME.description, 1), format: 'name' },
    ],
    cells: eventCells,
  },
  endpoints: {
    columns: [NAME, string('Endpoints', 'The set of all endpoints is the union of all subsets.'), AGE],
    cells: (e, now) => [str(e, 'metadata', 'name'), endpointsText(e), age(e, now)],
  },
  endpointslices: {
    columns: [
      NAME,
      string('AddressType', 'addressType specifies the type of address carried by this EndpointSlice.'),
      string('Ports', 'ports specifies the list of network ports exposed by each endpoint in this slice.'),
      string('Endpoints', 'endpoints is a list of unique endpoints in this slice.'),
      AGE,
    ],
    cells: (s, now) => [
      str(s, 'metadata', 'name'), str(s, 'addressType'),
      listWithMore(arr(s, 'ports').map((p) => (typeof p.port === 'number' ? String(p.port) : typeof p.name === 'string' ? p.name : '*'))),
      listWithMore(arr(s, 'endpoints').flatMap((e) => (e.addresses as string[] | undefined) ?? [])), age(s, now),
    ],
  },
  leases: {
    columns: [NAME, string('Holder', 'holderIdentity contains the identity of the holder of a current lease.'), AGE],
    cells: (l, now) => [str(l, 'metadata', 'name'), str(l, 'spec', 'holderIdentity'), age(l, now)],
  },
  nodes: {
    columns: [
      NAME, string('Status', 'The status of the node'), string('Roles', 'The roles of the node'), AGE, string('Version', 'Kubelet Version reported by the node.'),
      string('Internal-IP', 'List of addresses reachable to the node.', 1), string('External-IP', 'List of addresses reachable to the node.', 1),
      string('OS-Image', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', 1),
      string('Kernel-Version', 'Kernel Version reported by the node from \'uname -r\' (e.g. 3.16.0-0.bpo.4-amd64).', 1),
      string('Container-Runtime', 'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).', 1),
    ],
    cells: nodeCells,
  },
  pods: {
    columns: [
      NAME,
      string('Ready', 'The aggregate readiness state of this pod for accepting traffic.'),
      string('Status', 'The aggregate status of the containers in this pod.'),
      string('Restarts', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
      AGE,
      string('IP', 'podIP address allocated to the pod.', 1),
      string('Node', 'NodeName indicates in which node this pod is scheduled.', 1),
      string('Nominated Node', 'nominatedNodeName is set only when this pod preempts other pods on the node.', 1),
      string('Readiness Gates', 'If specified, all readiness gates will be evaluated for pod readiness.', 1),
    ],
    cells: podCells,
  },
};
