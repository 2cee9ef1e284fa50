import assert from 'node:assert/strict';
import { migrationInput } from '../../src/migrate/input.js';
import { planMigration, type MigrationReport } from '../../src/migrate/report.js';

/**
 * Builders of the migrate-from-metallb tables (not a test file itself), after the examples of
 * MetalLB's documentation (website/content/configuration/_advanced_ipaddresspool_configuration.md,
 * website/content/usage/_index.md). Pure.
 */

export type Obj = Record<string, unknown>;
const NS = 'metallb-system';

export function pool(name: string, spec: Obj, labels?: Record<string, string>): Obj {
  return { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name, namespace: NS, ...(labels ? { labels } : {}) }, spec };
}

export function l2(name: string, spec: Obj = {}): Obj {
  return { apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name, namespace: NS }, spec };
}

export function namespace(name: string, labels: Record<string, string>): Obj {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

export function node(name: string, labels: Record<string, string> = {}): Obj {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } } };
}

export interface ServiceSpec {
  /** `namespace/name`. */
  readonly key: string;
  /** status.loadBalancer.ingress IPs; none: pending. */
  readonly ips?: readonly string[];
  readonly annotations?: Record<string, string>;
  readonly labels?: Record<string, string>;
  /** Fields of spec that differ from a SingleStack IPv4 Service on TCP 80. */
  readonly spec?: Obj;
}

/** A LoadBalancer Service: SingleStack IPv4, TCP 80, selector app=<name>, unless `spec` says otherwise. */
export function service(s: ServiceSpec): Obj {
  const [ns, name] = s.key.split('/') as [string, string];
  const metadata: Obj = { name, namespace: ns };
  if (s.annotations) metadata.annotations = s.annotations;
  if (s.labels) metadata.labels = s.labels;
  const spec = { type: 'LoadBalancer', ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv4'], clusterIPs: ['10.96.0.1'], ports: [{ port: 80, protocol: 'TCP' }], selector: { app: name }, ...s.spec };
  const status = { loadBalancer: s.ips && s.ips.length > 0 ? { ingress: s.ips.map((ip) => ({ ip })) } : {} };
  return { apiVersion: 'v1', kind: 'Service', metadata, spec, status };
}

/** The allocator's own holding request, as the command passes it. */


/** planMigration over the objects, checking that neither the objects nor the input were mutated. */
export function plan(objects: readonly Obj[], lbClass?: string): MigrationReport {
  const before = structuredClone(objects);
  const input = migrationInput(objects);
  const inputBefore = structuredClone(input);
  const report = planMigration(input, { lbClass });
  assert.deepEqual(objects, before, 'migrationInput did not mutate the objects');
  assert.deepEqual(input, inputBefore, 'planMigration did not mutate its input');
  return report;
}

/** The outcome of one Service, as a short string the tables compare: `keeps 1.2.3.4 (blue)`. */
export function verdict(report: MigrationReport, key: string): string {
  const s = report.services.find((r) => r.service === key);
  if (!s) return 'absent';
  const o = s.outcome;
  switch (o.kind) {
    case 'keeps':
      return `keeps ${o.addresses.join(',')} (${o.pool})${o.added.length > 0 ? ` +${o.added.join(',')}` : ''}`;
    case 'gets':
      return `gets ${o.addresses.join(',')} (${o.pool})`;
    case 'pending':
      return `pending ${o.reason}`;
    case 'loses':
      return `loses ${o.reason}, ${o.then.kind === 'gets' ? `gets ${o.then.addresses.join(',')} (${o.then.pool})` : `nothing ${o.then.reason}`}`;
    case 'invalid':
      return `invalid ${o.reason}${o.holds ? ', holds' : ''}`;
    case 'notServed':
      return `notServed${o.metallb ? ' metallb' : ''}`;
    case 'unchecked':
      return 'unchecked';
  }
}
