import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { componentLabels, componentOfSlot, componentPod, componentPodStatus, terminationOf, type ComponentKind, type ComponentPlace, type ComponentRun } from '../../lab/component-pod-status.js';

const NS = 'fulcrum-system';
const T0 = Date.parse('2026-11-23T13:00:00Z');
const at = (s: number) => T0 + s * 1000;
const iso = (s: number) => new Date(at(s)).toISOString().replace(/\.000Z$/, 'Z');
const SPEAKER: ComponentPlace = { component: 'speaker', nodeName: 'ful-n1' };
const WHERE = { hostIPs: ['192.0.2.11', '2001:db8::11'], podIPs: ['192.0.2.11', '2001:db8::11'] };

/** A slot that started at T0 and has run since T0 + 10 s, never having died; rows override what differs. */
function run(o: Partial<ComponentRun> = {}): ComponentRun {
  return { state: 'running', firstStartedAt: at(0), startedAt: at(10), restarts: 0, lastExit: undefined, restartAt: undefined, backOffMs: undefined, ...o };
}

const KILLED = { code: null, signal: 'SIGKILL', startedAt: at(0), at: at(9) } as const;

interface ContainerStatus {
  ready: boolean;
  started: boolean;
  restartCount: number;
  state: Record<string, Record<string, unknown>>;
  lastState: Record<string, Record<string, unknown>>;
}

describe('lab component pods: the status a kubelet would write for a supervisor slot (pure)', () => {
  const rows: { name: string; run: ComponentRun; ready: boolean; readySince: number; restartCount: number; state: ContainerStatus['state']; lastState: ContainerStatus['lastState'] }[] = [
    { name: 'a speaker up since its first start is Running and Ready, with no last state', run: run({ startedAt: at(0) }), ready: true, readySince: 0, restartCount: 0, state: { running: { startedAt: iso(0) } }, lastState: {} },
    {
      name: 'a speaker killed by SIGKILL waits in CrashLoopBackOff with the back-off in the message; the kill is its last state (137, signal 9)',
      run: run({ state: 'backOff', startedAt: at(0), restarts: 1, lastExit: KILLED, restartAt: at(10), backOffMs: 1000 }),
      ready: false, readySince: 9, restartCount: 1,
      state: { waiting: { reason: 'CrashLoopBackOff', message: `back-off 1s restarting failed container=speaker pod=fulcrum-speaker-ful-n1_${NS}` } },
      lastState: { terminated: { exitCode: 137, signal: 9, reason: 'Error', startedAt: iso(0), finishedAt: iso(9) } },
    },
    {
      name: 'restarted, it runs again: Ready, the restart counted, the kill kept as last state',
      run: run({ restarts: 1, lastExit: KILLED, backOffMs: 1000 }),
      ready: true, readySince: 10, restartCount: 1,
      state: { running: { startedAt: iso(10) } },
      lastState: { terminated: { exitCode: 137, signal: 9, reason: 'Error', startedAt: iso(0), finishedAt: iso(9) } },
    },
    {
      name: 'an exit 0 with --no-restart stays down: terminated Completed, not ready',
      run: run({ state: 'down', startedAt: at(0), lastExit: { code: 0, signal: null, startedAt: at(0), at: at(5) } }),
      ready: false, readySince: 5, restartCount: 0,
      state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: iso(0), finishedAt: iso(5) } },
      lastState: {},
    },
    {
      name: 'an exit 1 held down by the failover demo is terminated Error with its own code',
      run: run({ state: 'down', restarts: 3, lastExit: { code: 1, signal: null, startedAt: at(10), at: at(12) }, backOffMs: 4000 }),
      ready: false, readySince: 12, restartCount: 3,
      state: { terminated: { exitCode: 1, reason: 'Error', startedAt: iso(10), finishedAt: iso(12) } },
      lastState: {},
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const before = JSON.stringify(row.run);
      const status = componentPodStatus(SPEAKER, NS, row.run, WHERE) as { phase: string; podIP: string; hostIPs: unknown; startTime: string; conditions: { type: string; status: string; lastTransitionTime: string }[]; containerStatuses: ContainerStatus[] };
      const c = status.containerStatuses[0]!;
      assert.equal(status.phase, 'Running', 'restartPolicy Always: the phase stays Running');
      assert.deepEqual([c.ready, c.started, c.restartCount], [row.ready, row.ready, row.restartCount]);
      assert.deepEqual(c.state, row.state);
      assert.deepEqual(c.lastState, row.lastState);
      const ready = status.conditions.find((x) => x.type === 'Ready')!;
      assert.equal(ready.status, row.ready ? 'True' : 'False');
      assert.equal(ready.lastTransitionTime, iso(row.readySince), 'Ready changed when the process started or ended');
      assert.deepEqual([status.startTime, status.podIP, status.hostIPs], [iso(0), '192.0.2.11', [{ ip: '192.0.2.11' }, { ip: '2001:db8::11' }]]);
      assert.equal(JSON.stringify(row.run), before, 'input not mutated');
    });
  }

  it('a backOff or down slot without a last exit is incoherent and fails loudly, naming the pod', () => {
    assert.throws(() => componentPodStatus(SPEAKER, NS, run({ state: 'backOff' }), WHERE), /fulcrum-speaker-ful-n1_fulcrum-system: state "backOff" without a last exit/);
  });

  it('a process that never started is a StartError with exit code 128, as a container runtime says', () => {
    assert.deepEqual(terminationOf({ code: null, signal: null, startedAt: at(0), at: at(0) }), { exitCode: 128, reason: 'StartError', startedAt: iso(0), finishedAt: iso(0) });
    assert.deepEqual(terminationOf({ code: null, signal: 'SIGTERM', startedAt: at(0), at: at(1) }), { exitCode: 143, signal: 15, reason: 'Error', startedAt: iso(0), finishedAt: iso(1) });
  });
});

describe('lab component pods: the Pod objects (pure)', () => {
  it('the slot names map to components; other slots are none of Fulcrum\'s', () => {
    assert.deepEqual(componentOfSlot('allocator'), { component: 'allocator', nodeName: undefined });
    assert.deepEqual(componentOfSlot('speaker ful-n2'), { component: 'speaker', nodeName: 'ful-n2' });
    assert.equal(componentOfSlot('c'), undefined);
    assert.equal(componentOfSlot('speaker'), undefined);
  });

  const MANIFESTS: Record<ComponentKind, string> = { allocator: 'config/30-allocator.yaml', speaker: 'config/31-speaker.yaml' };
  for (const component of ['allocator', 'speaker'] as const) {
    it(`the ${component}'s Pod carries the labels, account and container name of ${MANIFESTS[component]}'s template`, () => {
      const file = fileURLToPath(new URL(`../../../${MANIFESTS[component]}`, import.meta.url));
      const template = (parseDocument(readFileSync(file, 'utf8')).toJSON() as { spec: { template: { metadata: { labels: Record<string, string> }; spec: { serviceAccountName: string; hostNetwork?: boolean; containers: { name: string }[] } } } }).spec.template;
      const place: ComponentPlace = { component, nodeName: component === 'speaker' ? 'ful-n3' : undefined };
      const pod = componentPod(place, NS) as { metadata: { name: string; namespace: string; labels: Record<string, string> }; spec: { nodeName?: string; serviceAccountName: string; hostNetwork: boolean; containers: { name: string }[] } };
      assert.deepEqual(componentLabels(component), template.metadata.labels);
      assert.deepEqual(pod.metadata.labels, template.metadata.labels);
      assert.deepEqual([pod.spec.serviceAccountName, pod.spec.hostNetwork, pod.spec.containers[0]!.name], [template.spec.serviceAccountName, template.spec.hostNetwork ?? false, template.spec.containers[0]!.name]);
      assert.deepEqual([pod.metadata.name, pod.metadata.namespace, pod.spec.nodeName], component === 'speaker' ? ['fulcrum-speaker-ful-n3', NS, 'ful-n3'] : ['fulcrum-allocator-lab', NS, undefined]);
    });
  }
});
