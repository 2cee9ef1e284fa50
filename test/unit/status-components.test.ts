import assert from 'node:assert/strict';
import { alignColumns, componentRows, componentsNote, formatComponentsTable, type ComponentStatusRow } from '../../bin/status-components.js';

type Obj = Record<string, unknown>;
const NOW = Date.parse('2026-11-23T14:00:00Z');
const ago = (s: number) => new Date(NOW - s * 1000).toISOString().replace(/\.000Z$/, 'Z');

/** A speaker Pod on n1, created 5 min ago, running and ready for 4 min, never restarted; rows override what differs. */
function pod(o: { name?: string; component?: string | null; node?: string | null; phase?: string; deleting?: boolean; container?: Obj | null } = {}): Obj {
  const container = o.container === null ? undefined : { name: 'speaker', ready: true, started: true, restartCount: 0, state: { running: { startedAt: ago(240) } }, lastState: {}, ...o.container };
  const component = o.component === undefined ? 'speaker' : o.component;
  return {
    metadata: {
      namespace: 'fulcrum-system', name: o.name ?? 'fulcrum-speaker-x7k2p', creationTimestamp: ago(300),
      labels: { 'app.kubernetes.io/part-of': 'fulcrum', ...(component ? { 'app.kubernetes.io/component': component } : {}) },
      ...(o.deleting ? { deletionTimestamp: ago(1) } : {}),
    },
    spec: { ...(o.node === null ? {} : { nodeName: o.node ?? 'n1' }), containers: [{ name: 'speaker' }] },
    status: {
      phase: o.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: container?.ready ? 'True' : 'False' }],
      ...(container ? { containerStatuses: [container] } : {}),
    },
  };
}

const killed = (finishedSecondsAgo: number) => ({ terminated: { exitCode: 137, signal: 9, reason: 'Error', startedAt: ago(600), finishedAt: ago(finishedSecondsAgo) } });

describe('fulcrum status: the components section (pure)', () => {
  const rows: { name: string; pod: Obj; line: string; json: Partial<ComponentStatusRow> }[] = [
    { name: 'a speaker that never restarted is Running, 1/1, 0 restarts', pod: pod(), line: 'fulcrum-speaker-x7k2p  speaker  n1  1/1  Running  0  5m', json: { ready: '1/1', status: 'Running', restarts: 0, lastRestartAt: null } },
    {
      name: 'restarted three times, the last container ended 12 s ago: "3 (12s ago)"',
      pod: pod({ container: { restartCount: 3, lastState: killed(12), state: { running: { startedAt: ago(11) } } } }),
      line: 'fulcrum-speaker-x7k2p  speaker  n1  1/1  Running  3 (12s ago)  5m',
      json: { status: 'Running', restarts: 3, lastRestartAt: ago(12) },
    },
    {
      name: 'waiting for its restart it shows CrashLoopBackOff, not ready',
      pod: pod({ container: { ready: false, started: false, restartCount: 2, lastState: killed(5), state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 2s restarting failed container=speaker' } } } }),
      line: 'fulcrum-speaker-x7k2p  speaker  n1  0/1  CrashLoopBackOff  2 (5s ago)  5m',
      json: { ready: '0/1', status: 'CrashLoopBackOff', restarts: 2 },
    },
    {
      name: 'a container that ended with an error and stays down shows Error',
      pod: pod({ container: { ready: false, started: false, state: { terminated: { exitCode: 1, reason: 'Error', finishedAt: ago(30) } } } }),
      line: 'fulcrum-speaker-x7k2p  speaker  n1  0/1  Error  0  5m',
      json: { status: 'Error' },
    },
    { name: 'a Pod not yet scheduled is Pending, with no node', pod: pod({ phase: 'Pending', node: null, container: null }), line: 'fulcrum-speaker-x7k2p  speaker  -  0/1  Pending  0  5m', json: { status: 'Pending', node: null, ready: '0/1' } },
    { name: 'a Pod being deleted is Terminating', pod: pod({ deleting: true }), line: 'fulcrum-speaker-x7k2p  speaker  n1  1/1  Terminating  0  5m', json: { status: 'Terminating' } },
    { name: 'a Pod without the component label shows a dash (and null in JSON)', pod: pod({ component: null }), line: 'fulcrum-speaker-x7k2p  -  n1  1/1  Running  0  5m', json: { component: null } },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const before = JSON.stringify(row.pod);
      const table = formatComponentsTable([row.pod], NOW).split('\n');
      assert.deepEqual(table[0]!.split(/\s+/), ['NAME', 'COMPONENT', 'NODE', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
      assert.equal(table[1]!.replace(/ {2,}/g, '  '), row.line);
      const [json] = componentRows([row.pod]);
      for (const [k, v] of Object.entries(row.json)) assert.deepEqual(json![k as keyof ComponentStatusRow], v, `componentRows: ${k}`);
      assert.equal(JSON.stringify(row.pod), before, 'input not mutated');
    });
  }

  it('rows come by component, node and name: the allocator first, then the speakers node by node', () => {
    const pods = [pod({ name: 's-b', node: 'n2' }), pod({ name: 'alloc', component: 'allocator', node: 'n2' }), pod({ name: 's-a', node: 'n1' })];
    assert.deepEqual(componentRows(pods).map((r) => r.name), ['alloc', 's-a', 's-b']);
    assert.deepEqual(formatComponentsTable(pods, NOW).split('\n').slice(1, 4).map((l) => l.split(' ')[0]), ['alloc', 's-a', 's-b']);
    assert.deepEqual(componentRows(pods)[0], { namespace: 'fulcrum-system', name: 'alloc', component: 'allocator', node: 'n2', ready: '1/1', status: 'Running', restarts: 0, lastRestartAt: null, createdAt: ago(300) });
  });

  it('says why there is no table: nothing there, or Pods forbidden to this user', () => {
    assert.equal(componentsNote('fulcrum-system', 'none'), 'no Pods of Fulcrum\'s components in namespace "fulcrum-system" (label app.kubernetes.io/part-of=fulcrum,app.kubernetes.io/component; another namespace: --system-namespace)\n');
    assert.equal(componentsNote('lb', 'forbidden'), 'components not shown: this user may not list Pods in namespace "lb" (403 Forbidden)\n');
  });

  it('columns are as wide as their widest cell, two spaces apart, with no trailing blanks', () => {
    assert.equal(alignColumns([['A', 'BB'], ['ccc', ''], ['d', 'e']]), 'A    BB\nccc\nd    e\n');
  });
});
