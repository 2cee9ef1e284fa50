import assert from 'node:assert/strict';
import type { V1Service } from '@kubernetes/client-node';
import type { AddressPlan, Owner, SpeakerPlan } from '../../speaker/plan/addresses.js';
import { kernelRuleAddresses, kernelUnavailableWarnings } from '../../speaker/plan/kernel-candidates.js';

function address(ip: string, owner: Owner, interfaces: string[] = ['eth0']): [string, AddressPlan] {
  return [ip, { address: ip, services: [], pool: 'default', interfaces, owner }];
}
const elected = (node: string, candidates: string[]): Owner => ({ kind: 'elected', node, candidates });

describe('kernel mode: which addresses a node holds rules for', () => {
  const plan: SpeakerPlan = {
    addresses: new Map([
      address('192.0.2.10', elected('n1', ['n1', 'n2', 'n3'])), // owned by n1, n2 a candidate
      address('192.0.2.11', elected('n3', ['n3'])), // a Local Service with its only endpoint on n3
      address('192.0.2.12', elected('n2', ['n1', 'n2']), []), // n2 cannot announce it here: no interface
      address('192.0.2.13', { kind: 'none', reason: 'noEligibleNode' }),
    ]),
    owned: ['192.0.2.10'],
  };

  it('every address the node is an election candidate of, whoever owns it now (a takeover changes no rules)', () => {
    assert.deepEqual(kernelRuleAddresses(plan, 'n2', []), ['192.0.2.10']);
    assert.deepEqual(kernelRuleAddresses(plan, 'n3', []), ['192.0.2.10', '192.0.2.11']);
  });

  it('not an address the node cannot announce on, nor one without an owner', () => {
    assert.deepEqual(kernelRuleAddresses(plan, 'n1', []), ['192.0.2.10']);
    assert.deepEqual(kernelRuleAddresses(plan, 'n4', []), []);
  });

  it('and still those it accepts on or holds on lo (a handover or a drain keeps its open flows)', () => {
    assert.deepEqual(kernelRuleAddresses(plan, 'n4', ['192.0.2.13', '192.0.2.10']), ['192.0.2.10', '192.0.2.13']);
    assert.deepEqual(kernelRuleAddresses(plan, 'n2', ['192.0.2.10']), ['192.0.2.10'], 'no address twice');
  });
});

describe('kernel mode: Services told it is unavailable on this node', () => {
  const svc = (name: string, ip: string, dataPlane?: string): V1Service => ({
    metadata: { namespace: 'shop', name, annotations: dataPlane === undefined ? {} : { 'fulcrum-lb.io/data-plane': dataPlane } },
    spec: { type: 'LoadBalancer', ports: [{ port: 53, protocol: 'UDP' }] },
    status: { loadBalancer: { ingress: [{ ip }] } },
  });
  const services = [svc('web', '192.0.2.10', 'kernel'), svc('dns', '192.0.2.10', 'kernel:53'), svc('plain', '192.0.2.10'), svc('proxy', '192.0.2.10', 'proxy'), svc('elsewhere', '192.0.2.99', 'kernel')];

  it('one Warning per Service on an address it accepts on that asks for kernel mode, naming the reason, sorted', () => {
    const got = kernelUnavailableWarnings(services, new Set(['192.0.2.10']), 'turned off with --data-plane-kernel=off');
    assert.deepEqual(got.map((w) => w.service), ['shop/dns', 'shop/web']);
    assert.deepEqual(got[1]!.warning, {
      kind: 'badAnnotation',
      annotation: 'fulcrum-lb.io/data-plane',
      value: 'kernel',
      reason: 'asks for kernel mode, which is unavailable on this node (turned off with --data-plane-kernel=off)',
      effect: 'its ports stay in the proxy',
    });
  });

  it('none for a node that accepts on none of their addresses', () => {
    assert.deepEqual(kernelUnavailableWarnings(services, new Set(['192.0.2.50']), 'nft missing'), []);
  });
});
