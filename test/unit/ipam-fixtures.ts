import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/parse.js';
import type { Config } from '../../src/config/types.js';
import { Allocator } from '../../src/ipam/allocator.js';
import { asServiceKey } from '../../src/service/key.js';
import type { AllocationRequest, AssignFailureReason, AssignResult, NamespaceLabels } from '../../src/ipam/types.js';

/** Shared builders of the ipam tests (not a test file itself). */

export function config(yaml: string): Config {
  const result = parseConfig(yaml);
  if (!result.ok) throw new Error(`test config is invalid: ${result.errors.join('; ')}`);
  return result.config;
}

/** The default pools of the allocator tables: rows override only what they need. */
export const DEFAULT_CONFIG = `
address-pools:
- {name: default, addresses: [192.0.2.1-192.0.2.3, "2001:db8::1-2001:db8::3"]}
- {name: reserved, addresses: [192.0.2.100-192.0.2.101], auto-assign: false}
- {name: off, addresses: [192.0.2.200-192.0.2.201], disabled: true}
`;

export function req(overrides: Partial<AllocationRequest> = {}): AllocationRequest {
  return {
    pool: undefined,
    requestedAddresses: [],
    families: ['IPv4'],
    familyPolicy: 'SingleStack',
    sharingKey: undefined,
    ports: [{ port: 80, protocol: 'TCP' }],
    externalTrafficPolicy: 'Cluster',
    selector: { app: 'web' },
    ...overrides,
  };
}

export type Want = readonly string[] | { readonly fail: AssignFailureReason };

/** `namespaces`: the namespace labels the caller passes (serviceAllocation.namespaceSelectors); default: the row's. */
export type Step =
  | { readonly assign: string; readonly req?: Partial<AllocationRequest>; readonly want: Want; readonly pool?: string; readonly changed?: boolean; readonly namespaces?: NamespaceLabels }
  | { readonly adopt: string; readonly addresses: readonly string[]; readonly req?: Partial<AllocationRequest>; readonly want: Want; readonly namespaces?: NamespaceLabels }
  | { readonly release: string; readonly want?: 'released' | 'notAssigned' }
  | { readonly setConfig: string; readonly refusedFor?: readonly string[]; readonly moved?: readonly string[] };

export function checkResult(call: string, result: AssignResult, want: Want, pool?: string, changed?: boolean): void {
  if ('fail' in want) {
    assert.equal(result.kind, 'failed', `${call}: expected failure ${want.fail}, got ${JSON.stringify(result)}`);
    if (result.kind === 'failed') {
      assert.equal(result.reason, want.fail, `${call}: ${result.message}`);
      assert.ok(result.message.length > 0, `${call}: a failure says why`);
    }
    return;
  }
  assert.equal(result.kind, 'assigned', `${call}: ${result.kind === 'failed' ? `${result.reason}: ${result.message}` : ''}`);
  if (result.kind !== 'assigned') return;
  assert.deepEqual(result.addresses, want, call);
  if (pool !== undefined) assert.equal(result.pool, pool, `${call}: pool`);
  if (changed !== undefined) assert.equal(result.changed, changed, `${call}: changed`);
}

/**
 * Runs the steps of one row, checking each result, the invariants, and that inputs are
 * untouched. `namespaces`: the namespace labels passed to assign and adopt (a step may override).
 */
export function runSteps(allocator: Allocator, steps: readonly Step[], namespaces?: NamespaceLabels): void {
  for (const step of steps) {
    if ('assign' in step) {
      const request = req(step.req);
      const before = structuredClone(request);
      const ns = step.namespaces ?? namespaces;
      const nsBefore = structuredClone(ns);
      const call = `assign("${step.assign}", ${JSON.stringify(step.req ?? {})})`;
      checkResult(call, allocator.assign(asServiceKey(step.assign), request, ns), step.want, step.pool, step.changed);
      assert.deepEqual(request, before, `${call} did not mutate the request`);
      assert.deepEqual(ns, nsBefore, `${call} did not mutate the namespace labels`);
    } else if ('adopt' in step) {
      const request = req(step.req);
      const addresses = [...step.addresses];
      const call = `adopt("${step.adopt}", ${JSON.stringify(step.addresses)}, ${JSON.stringify(step.req ?? {})})`;
      checkResult(call, allocator.adopt(asServiceKey(step.adopt), addresses, request, step.namespaces ?? namespaces), step.want);
      assert.deepEqual(addresses, step.addresses, `${call} did not mutate the addresses`);
    } else if ('release' in step) {
      assert.equal(allocator.release(asServiceKey(step.release)).kind, step.want ?? 'released', `release("${step.release}")`);
    } else {
      const next = config(step.setConfig);
      const before = structuredClone(next);
      const result = allocator.setConfig(next);
      assert.deepEqual(next, before, 'setConfig did not mutate the config');
      if (step.refusedFor) {
        assert.equal(result.kind, 'refused', `setConfig(${step.setConfig})`);
        if (result.kind === 'refused') assert.deepEqual([...new Set(result.holders.map((h) => h.service))], step.refusedFor, result.message);
      } else {
        assert.equal(result.kind, 'applied', `setConfig(${step.setConfig}): ${result.kind === 'refused' ? result.message : ''}`);
        if (result.kind === 'applied' && step.moved) assert.deepEqual(result.moved.map((m) => `${m.service}:${m.from}->${m.to}`), step.moved);
      }
    }
    allocator.checkInvariants();
  }
}
