import assert from 'node:assert/strict';
import { parseMetalLBResources } from '../../src/config/metallb.js';
import type { Advertisement, LabelSelector, ServiceAllocation } from '../../src/config/types.js';

/** Builders of the MetalLB resource tables (not a test file itself). */

export const NS = 'metallb-system';
export type Obj = Record<string, unknown>;

export function pool(name: string, spec: Obj, metadata: Obj = {}): Obj {
  return { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name, namespace: NS, ...metadata }, spec };
}
export function l2(name: string, spec: Obj = {}): Obj {
  return { apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name, namespace: NS }, spec };
}
export const labels = (matchLabels: Record<string, string>): LabelSelector => ({ matchLabels, matchExpressions: [] });
export const alloc = (a: Partial<ServiceAllocation>): ServiceAllocation => ({ priority: undefined, namespaces: [], namespaceSelectors: [], serviceSelectors: [], ...a });
/** The advertisement an L2Advertisement of `NS` without nodeSelectors gives. */
export const everywhere = (source: string, interfaces: string[] = []): Advertisement => ({ source: `L2Advertisement "${NS}/${source}"`, nodeSelectors: [], interfaces });
/** An L2Advertisement for every pool and node. */
export const EVERY_NODE = l2('l2');

/** parseMetalLBResources, checking that it does not mutate its input. */
export function convert(objects: readonly Obj[]) {
  const input = structuredClone(objects);
  const result = parseMetalLBResources(input);
  assert.deepEqual(input, objects, 'parseMetalLBResources did not mutate its input');
  return result;
}
