import type { Lab } from '../../lab/lab.js';
import { execCommand } from '../../lab/netns.js';

// Shared by the speaker's e2e files (not a test file itself).

/**
 * Works around a lab issue on hosts whose own address is the lab client's (192.0.2.2): the root
 * namespace answers ARP for it on the lab host link (arp_ignore 0), and nodes then send the
 * client's replies to the host. The link carries our prefix and goes away with the lab.
 */
export async function hideHostAddressesFromLab(lab: Lab): Promise<void> {
  await execCommand('sysctl', ['-qw', `net.ipv4.conf.${lab.topology.names.hostLink}.arp_ignore=1`]);
  for (const n of lab.topology.nodes) await lab.topology.exec(n.namespace, 'ip', ['neigh', 'flush', 'to', lab.topology.client.ipv4]);
}

/** The nodes that have `address` on lo (where the speaker's VIP plumbing puts owned ones). */
export async function nodesHolding(lab: Lab, address: string): Promise<string[]> {
  const out: string[] = [];
  for (const n of lab.topology.nodes) {
    const r = await lab.topology.exec(n.namespace, 'ip', ['-j', 'addr', 'show', 'dev', 'lo']);
    const infos = (JSON.parse(r.stdout || '[]') as { addr_info?: { local?: string }[] }[]).flatMap((l) => l.addr_info ?? []);
    if (infos.some((i) => i.local === address)) out.push(n.name);
  }
  return out;
}

