import assert from 'node:assert/strict';
import { countKernelFlows, type FlowPort } from '../../speaker/kernel/conntrack.js';

// Lines as /proc/net/nf_conntrack writes them (kernel 6.x), one per entry.
const LINES = [
  'ipv4     2 tcp      6 4 SYN_RECV src=198.51.100.7 dst=192.0.2.10 sport=40000 dport=80 src=203.0.113.5 dst=192.0.2.10 sport=8080 dport=40000 mark=0 zone=0 use=2',
  'ipv4     2 tcp      6 3 SYN_SENT src=198.51.100.8 dst=192.0.2.10 sport=40001 dport=80 [UNREPLIED] src=203.0.113.5 dst=192.0.2.10 sport=8080 dport=40001 mark=0 zone=0 use=2',
  'ipv4     2 tcp      6 431999 ESTABLISHED src=198.51.100.9 dst=192.0.2.10 sport=40002 dport=80 src=203.0.113.6 dst=192.0.2.10 sport=8080 dport=40002 [ASSURED] mark=0 zone=0 use=2',
  'ipv4     2 tcp      6 110 TIME_WAIT src=198.51.100.9 dst=192.0.2.10 sport=40003 dport=80 src=203.0.113.6 dst=192.0.2.10 sport=8080 dport=40003 [ASSURED] mark=0 zone=0 use=2',
  // another port of the same address, and a flow from the VIP (after SNAT, the reply direction holds the VIP as dst)
  'ipv4     2 tcp      6 4 SYN_RECV src=198.51.100.7 dst=192.0.2.10 sport=40000 dport=443 src=203.0.113.5 dst=192.0.2.10 sport=8443 dport=40000 mark=0 zone=0 use=2',
  'ipv4     2 tcp      6 4 SYN_RECV src=192.0.2.10 dst=203.0.113.5 sport=40000 dport=80 src=203.0.113.5 dst=192.0.2.10 sport=80 dport=40000 mark=0 zone=0 use=2',
  'ipv6     10 udp      17 3 src=2001:0db8:0000:0000:0000:0000:0000:0007 dst=2001:0db8:0000:0000:0000:0000:0000:0010 sport=5353 dport=53 [UNREPLIED] src=2001:0db8:0000:0000:0000:0000:0000:0005 dst=2001:0db8:0000:0000:0000:0000:0000:0007 sport=53 dport=5353 mark=0 zone=0 use=2',
  'ipv6     10 udp      17 28 src=2001:0db8:0000:0000:0000:0000:0000:0008 dst=2001:0db8:0000:0000:0000:0000:0000:0010 sport=5353 dport=53 src=2001:0db8:0000:0000:0000:0000:0000:0005 dst=2001:0db8:0000:0000:0000:0000:0000:0008 sport=53 dport=5353 mark=0 zone=0 use=2',
  'ipv4     2 icmp     1 29 src=198.51.100.7 dst=192.0.2.10 type=8 code=0 id=1 src=192.0.2.10 dst=198.51.100.7 type=0 code=0 id=1 mark=0 zone=0 use=2',
  '',
];

const web: FlowPort = { name: 'shop/web:80/TCP@192.0.2.10', address: '192.0.2.10', port: 80, protocol: 'tcp' };
const dns: FlowPort = { name: 'kube-system/dns:53/UDP@2001:db8::10', address: '2001:db8::10', port: 53, protocol: 'udp' };
const idle: FlowPort = { name: 'shop/idle:81/TCP@192.0.2.10', address: '192.0.2.10', port: 81, protocol: 'tcp' };

describe('kernel mode: flows per port from the conntrack table', () => {
  it('counts a port\'s entries by the original destination, TCP by state and UDP by whether answered', () => {
    const counts = countKernelFlows(LINES.join('\n'), [web, dns, idle]);
    assert.deepEqual(counts.get(web.name), { opening: 2, established: 1, closing: 1, unreplied: 0, replied: 0 });
    assert.deepEqual(counts.get(dns.name), { opening: 0, established: 0, closing: 0, unreplied: 1, replied: 1 });
    assert.deepEqual(counts.get(idle.name), { opening: 0, established: 0, closing: 0, unreplied: 0, replied: 0 });
  });

  it('matches no entry of another protocol on the same address and port', () => {
    const udp80 = { ...web, name: 'udp80', protocol: 'udp' as const };
    assert.deepEqual(countKernelFlows(LINES.join('\n'), [udp80]).get('udp80'), { opening: 0, established: 0, closing: 0, unreplied: 0, replied: 0 });
  });

  it('gives an empty map without ports, and skips lines that are not entries', () => {
    assert.equal(countKernelFlows(LINES.join('\n'), []).size, 0);
    assert.deepEqual(countKernelFlows('garbage\nipv4 2 tcp\n\n', [web]).get(web.name), { opening: 0, established: 0, closing: 0, unreplied: 0, replied: 0 });
  });
});
