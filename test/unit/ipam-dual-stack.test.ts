import assert from 'node:assert/strict';
import { Allocator } from '../../src/ipam/allocator.js';
import { serviceRequest, type ServiceLike } from '../../src/ipam/request.js';
import { asServiceKey } from '../../src/service/key.js';
import { config } from './ipam-fixtures.js';

// The dual-stack rules, from MetalLB's own tables: controller/controller_test.go
// (TestControllerMutation, its family and dual-stack rows; TestControllerDualStackConfig) and
// internal/allocator/allocator_test.go (TestPoolAllocation, its PreferDualStack rows). Each row
// is a Service as the API server stores it, run through serviceRequest and the Allocator.
//
// MetalLB's pools overlap (pool1, pool3 and pool5 share addresses); Fulcrum's never do, so the
// dual-stack pool5 has its own ranges here. Where Fulcrum keeps another rule the row says so,
// and README.md ("Coming from MetalLB") gives the reason.

const POOLS = `
address-pools:
- {name: pool1, addresses: [1.2.3.0/31]}
- {name: pool2, addresses: [3.4.5.6/32], auto-assign: false}
- {name: pool3, addresses: ["1000::/127"]}
- {name: pool4, addresses: ["2000::1/128"], auto-assign: false}
- {name: pool5, addresses: [5.6.7.0/31, "5000::/127"]}
`;

type Policy = 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';

interface Shape {
  readonly clusterIPs?: readonly string[];
  readonly ipFamilies?: readonly string[];
  readonly policy?: Policy;
  readonly loadBalancerIP?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A LoadBalancer Service; by default one IPv4 cluster IP, as MetalLB's rows. */
function svc(s: Shape = {}): ServiceLike {
  return {
    metadata: { namespace: 'ns', name: 'web', annotations: { ...(s.annotations ?? {}) } },
    spec: {
      type: 'LoadBalancer',
      clusterIPs: [...(s.clusterIPs ?? ['1.2.3.4'])],
      ...(s.ipFamilies ? { ipFamilies: [...s.ipFamilies] } : {}),
      ...(s.policy ? { ipFamilyPolicy: s.policy } : {}),
      ...(s.loadBalancerIP ? { loadBalancerIP: s.loadBalancerIP } : {}),
      ports: [{ port: 80, protocol: 'TCP' }],
    },
  };
}

type Want = readonly string[] | { readonly invalid: string } | { readonly fail: string };

/** One Service step: `shown` is what its status already says (adopted first, as after a restart). */
type Step = { readonly assign: string; readonly svc: ServiceLike; readonly shown?: readonly string[]; readonly want: Want } | { readonly release: string };

function run(steps: readonly Step[]): void {
  const allocator = new Allocator(config(POOLS));
  for (const step of steps) {
    if ('release' in step) {
      assert.equal(allocator.release(asServiceKey(step.release)).kind, 'released', `release("${step.release}")`);
      continue;
    }
    const call = `serviceRequest(${JSON.stringify(step.svc.spec)}, ${JSON.stringify(step.svc.metadata?.annotations)})`;
    const before = structuredClone(step.svc);
    const r = serviceRequest(step.svc);
    assert.deepEqual(step.svc, before, `${call} did not mutate the Service`);
    if ('invalid' in step.want) {
      assert.equal(r.kind, 'invalid', `${call}: ${JSON.stringify(r)}`);
      if (r.kind === 'invalid') assert.equal(r.reason, step.want.invalid, `${call}: ${r.message}`);
      continue;
    }
    assert.equal(r.kind, 'request', `${call}: ${r.kind === 'request' ? '' : r.message}`);
    if (r.kind !== 'request') continue;
    const key = asServiceKey(step.assign);
    if (step.shown) allocator.adopt(key, step.shown, r.request);
    const a = allocator.assign(key, r.request);
    allocator.checkInvariants();
    const got = a.kind === 'assigned' ? a.addresses : { fail: a.reason };
    assert.deepEqual(got, step.want, `assign("${step.assign}") after ${call}: ${a.kind === 'failed' ? a.message : ''}`);
  }
}

const V4 = ['1.2.3.4'];
const V6 = ['3000::1'];
const V4V6 = ['1.2.3.4', '3000::1'];

describe("dual-stack: MetalLB's controller rows (controller_test.go)", () => {
  const rows: Array<{ name: string; steps: Step[] }> = [
    // Single-stack Services and the family of what they request.
    { name: 'simple LoadBalancer', steps: [{ assign: 's1', svc: svc(), want: ['1.2.3.0'] }] },
    { name: 'request IP from wrong ip-family (ipv4)', steps: [{ assign: 's1', svc: svc({ clusterIPs: V6, loadBalancerIP: '1.2.3.1' }), want: { invalid: 'familyMismatch' } }] },
    { name: 'request IP from wrong ip-family (ipv4) via custom annotation', steps: [{ assign: 's1', svc: svc({ clusterIPs: V6, annotations: { 'metallb.io/loadBalancerIPs': '1.2.3.1' } }), want: { invalid: 'familyMismatch' } }] },
    { name: 'request IP from wrong ip-family (ipv6)', steps: [{ assign: 's1', svc: svc({ loadBalancerIP: '1000::' }), want: { invalid: 'familyMismatch' } }] },
    { name: 'request IP from wrong ip-family (ipv6) via custom annotation', steps: [{ assign: 's1', svc: svc({ annotations: { 'metallb.io/loadBalancerIPs': '1000::' } }), want: { invalid: 'familyMismatch' } }] },
    { name: 'IP from wrong ip-family (ipv6) assigned', steps: [{ assign: 's1', svc: svc(), shown: ['1000::'], want: ['1.2.3.0'] }] },
    { name: 'IP from wrong ip-family (ipv4) assigned', steps: [{ assign: 's1', svc: svc({ clusterIPs: V6 }), shown: ['1.2.3.0'], want: ['1000::'] }] },

    // Dual-stack Services.
    { name: 'simple dual-stack LoadBalancer', steps: [{ assign: 's1', svc: svc({ clusterIPs: V4V6, policy: 'RequireDualStack' }), want: ['5.6.7.0', '5000::'] }] },
    { name: 'request IPs from specific pool', steps: [{ assign: 's1', svc: svc({ clusterIPs: V4V6, policy: 'RequireDualStack', annotations: { 'metallb.io/address-pool': 'pool5' } }), want: ['5.6.7.0', '5000::'] }] },
    { name: 'simple dual-stack LoadBalancer with PreferDualStack policy', steps: [{ assign: 's1', svc: svc({ clusterIPs: V4V6, policy: 'PreferDualStack' }), want: ['5.6.7.0', '5000::'] }] },
    // MetalLB pins this one to an IPv4-only pool by namespace; the rule shown is the same: one cluster IP, one family.
    { name: 'single-stack LoadBalancer with PreferDualStack policy', steps: [{ assign: 's1', svc: svc({ policy: 'PreferDualStack' }), want: ['1.2.3.0'] }] },
    { name: 'request IPs from dualstack pool with PreferDualStack policy', steps: [{ assign: 's1', svc: svc({ clusterIPs: V4V6, policy: 'PreferDualStack', annotations: { 'metallb.io/address-pool': 'pool5' } }), want: ['5.6.7.0', '5000::'] }] },
    { name: 'request IP from single-stack ipv4 pool with PreferDualStack policy', steps: [{ assign: 's1', svc: svc({ clusterIPs: ['1.2.3.4', '1000::'], policy: 'PreferDualStack', annotations: { 'metallb.io/address-pool': 'pool1' } }), want: ['1.2.3.0'] }] },
    { name: 'request IP from single-stack ipv6 pool with PreferDualStack policy', steps: [{ assign: 's1', svc: svc({ clusterIPs: ['1000::1'], policy: 'PreferDualStack', annotations: { 'metallb.io/address-pool': 'pool3' } }), want: ['1000::'] }] },
    {
      name: 'request IPs from dualstack pool with PreferDualStack policy but single stack clusterip',
      steps: [{ assign: 's1', svc: svc({ policy: 'PreferDualStack', annotations: { 'metallb.io/address-pool': 'pool5' } }), want: ['5.6.7.0'] }],
    },
    {
      name: 'request IPs from dualstack pool with RequireDualStack policy but single stack clusterip',
      steps: [{ assign: 's1', svc: svc({ policy: 'RequireDualStack', annotations: { 'metallb.io/address-pool': 'pool5' } }), want: { invalid: 'badSpec' } }],
    },
    { name: 'request specific loadbalancer IP with dual-stack (RequireDualStack)', steps: [{ assign: 's1', svc: svc({ clusterIPs: V4V6, policy: 'RequireDualStack', loadBalancerIP: '1.2.3.1' }), want: { invalid: 'familyMismatch' } }] },
    // Fulcrum's rule: PreferDualStack settles for the one family asked for (MetalLB refuses a request with fewer families than the cluster IPs).
    { name: 'request specific loadbalancer IP with dual-stack (PreferDualStack: served, unlike MetalLB)', steps: [{ assign: 's1', svc: svc({ clusterIPs: V4V6, policy: 'PreferDualStack', loadBalancerIP: '1.2.3.1' }), want: ['1.2.3.1'] }] },
    {
      name: 'request specific loadbalancer IPv4 address via custom annotation for dual-stack config (RequireDualStack)',
      steps: [{ assign: 's1', svc: svc({ clusterIPs: V4V6, policy: 'RequireDualStack', annotations: { 'metallb.io/loadBalancerIPs': '1.2.3.1' } }), want: { invalid: 'familyMismatch' } }],
    },
    {
      name: 'request specific loadbalancer IPv4 address via custom annotation for dual-stack config (PreferDualStack: served, unlike MetalLB)',
      steps: [{ assign: 's1', svc: svc({ clusterIPs: V4V6, policy: 'PreferDualStack', annotations: { 'metallb.io/loadBalancerIPs': '1.2.3.1' } }), want: ['1.2.3.1'] }],
    },
    {
      name: 'request dual-stack loadbalancer IPs via custom annotation',
      steps: [{ assign: 's1', svc: svc({ clusterIPs: V4V6, policy: 'RequireDualStack', annotations: { 'metallb.io/loadBalancerIPs': '5.6.7.0,5000::' } }), want: ['5.6.7.0', '5000::'] }],
    },
    // Fulcrum's rule: the Service's family order, IPv6 first here (MetalLB writes IPv4 first).
    {
      name: 'request dual-stack loadbalancer with invalid ingress (an IPv6-primary Service: IPv6 first, unlike MetalLB)',
      steps: [{ assign: 's1', svc: svc({ clusterIPs: ['3000::1', '5.6.7.8'], policy: 'RequireDualStack' }), shown: ['1000::'], want: ['5000::', '5.6.7.0'] }],
    },
    {
      name: 'request dual-stack loadbalancer IPs via custom annotation in a single stack cluster',
      steps: [{ assign: 's1', svc: svc({ annotations: { 'metallb.io/loadBalancerIPs': '5.6.7.0,5000::' } }), want: { invalid: 'familyMismatch' } }],
    },
    // TestControllerDualStackConfig: a RequireDualStack Service and one pool of both families.
    { name: 'TestControllerDualStackConfig: a RequireDualStack Service gets both from a dual pool', steps: [{ assign: 's1', svc: svc({ clusterIPs: ['1.2.3.4', '1000::'], policy: 'RequireDualStack' }), want: ['5.6.7.0', '5000::'] }] },
  ];
  for (const row of rows) it(row.name, () => run(row.steps));
});

describe("dual-stack: MetalLB's allocator rows (allocator_test.go, TestPoolAllocation, PreferDualStack)", () => {
  // MetalLB passes the Service's family beside a PreferDualStack Service; here it is its cluster IPs.
  const prefer = (clusterIPs: readonly string[], pool: string) => svc({ clusterIPs, policy: 'PreferDualStack', annotations: { 'metallb.io/address-pool': pool } });
  it('s1 gets dual-stack IPs, s2 gets ipv4 IP, s3 gets ipv6 IP, s2 clear old ipv4 address, s3 gets dualstack', () =>
    run([
      { assign: 's1', svc: prefer(V4V6, 'pool5'), want: ['5.6.7.0', '5000::'] },
      { assign: 's2', svc: prefer(V4, 'pool1'), want: ['1.2.3.0'] },
      { assign: 's3', svc: prefer(V6, 'pool3'), want: ['1000::'] },
      { release: 's2' },
      // The pool changed, so s3 moves, as MetalLB's controller does ("differentPoolRequested").
      { assign: 's3', svc: prefer(V4V6, 'pool5'), want: ['5.6.7.1', '5000::1'] },
    ]));
});

describe('dual-stack: the rules around them', () => {
  const rows: Array<{ name: string; steps: Step[] }> = [
    { name: "the addresses follow the Service's spec.ipFamilies order", steps: [{ assign: 's1', svc: svc({ clusterIPs: ['3000::1', '1.2.3.4'], ipFamilies: ['IPv6', 'IPv4'], policy: 'PreferDualStack' }), want: ['5000::', '5.6.7.0'] }] },
    { name: 'spec.ipFamilies decides over the cluster IPs', steps: [{ assign: 's1', svc: svc({ clusterIPs: V4V6, ipFamilies: ['IPv6'], policy: 'PreferDualStack' }), want: ['1000::'] }] },
    { name: 'a PreferDualStack Service the cluster gave only IPv6 gets IPv6 only', steps: [{ assign: 's1', svc: svc({ clusterIPs: V6, ipFamilies: ['IPv6'], policy: 'PreferDualStack' }), want: ['1000::'] }] },
    { name: 'a PreferDualStack IPv4 Service that requests an IPv6 address is refused', steps: [{ assign: 's1', svc: svc({ policy: 'PreferDualStack', loadBalancerIP: '5000::' }), want: { invalid: 'familyMismatch' } }] },
    { name: 'a PreferDualStack IPv4 Service that requests both families is refused', steps: [{ assign: 's1', svc: svc({ policy: 'PreferDualStack', annotations: { 'metallb.io/loadBalancerIPs': '5.6.7.0,5000::' } }), want: { invalid: 'familyMismatch' } }] },
    { name: 'a SingleStack Service of a dual-stack pool gets its one family', steps: [{ assign: 's1', svc: svc({ clusterIPs: V6, policy: 'SingleStack', annotations: { 'metallb.io/address-pool': 'pool5' } }), want: ['5000::'] }] },
    {
      name: 'a PreferDualStack IPv4 Service that held both families (an older Fulcrum gave them) keeps only its IPv4',
      steps: [{ assign: 's1', svc: svc({ policy: 'PreferDualStack' }), shown: ['5.6.7.0', '5000::'], want: ['5.6.7.0'] }],
    },
    {
      name: 'a PreferDualStack Service whose cluster adds the second family gets it from the same pool, keeping its address',
      steps: [
        { assign: 's1', svc: svc({ policy: 'PreferDualStack', annotations: { 'metallb.io/address-pool': 'pool5' } }), want: ['5.6.7.0'] },
        { assign: 's1', svc: svc({ clusterIPs: V4V6, policy: 'PreferDualStack', annotations: { 'metallb.io/address-pool': 'pool5' } }), want: ['5.6.7.0', '5000::'] },
      ],
    },
    {
      name: 'a PreferDualStack Service whose pool has no range of the second family keeps the one it has',
      steps: [
        { assign: 's1', svc: svc({ policy: 'PreferDualStack' }), want: ['1.2.3.0'] },
        { assign: 's1', svc: svc({ clusterIPs: V4V6, policy: 'PreferDualStack' }), want: ['1.2.3.0'] },
      ],
    },
  ];
  for (const row of rows) it(row.name, () => run(row.steps));
});
