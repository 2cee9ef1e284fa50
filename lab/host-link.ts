import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { FulcrumError } from '../src/errors.js';
import { HOST_IPV4, HOST_IPV6, HOST_MAC, hostRoutingTable, NODE_NETWORK_V4, NODE_NETWORK_V6, type LabNames } from './addressing.js';
import { execCommand, ip, runCommand } from './netns.js';

/**
 * The veth from the root namespace to the lab's switch: 192.0.2.254/24 and 2001:db8::fe/64 on
 * the root side, where the in-process API emulator listens.
 *
 * Several labs may run at once (each engineer's tests use their own prefix) and all use the
 * same node addresses, so the root namespace cannot route replies by destination alone. Each
 * lab gets a routing table T (also its firewall mark): nftables marks the connections that come
 * in on its host link with ct mark T and copies it to every locally generated reply (a `route`
 * chain re-routes marked packets), and `ip rule fwmark T lookup T` sends them back on the same
 * link. Connections started from the root namespace use the main table, where each lab's route
 * has metric T: with several labs up, the lowest T wins.
 */

/** Before `main` (32766); every lab's rule has the same priority, they differ by mark. */
const RULE_PRIORITY = 1000;
const TABLE_ATTEMPTS = 16;
const TABLE_RANGE = { min: 0x4c00, max: 0x4fff };

export interface HostLink {
  readonly link: string;
  readonly ipv4: string;
  readonly ipv6: string;
  readonly table: number;
}

/** Routes of a table, '' when there are none (ip fails for a table that never existed). */
async function tableRoutes(family: string, table: number): Promise<string> {
  const r = await execCommand('ip', [family, 'route', 'show', 'table', String(table)]);
  return r.code === 0 ? r.stdout.trim() : '';
}

function tableRoutesSync(family: string, table: number): string {
  try {
    return execFileSync('ip', [family, 'route', 'show', 'table', String(table)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

async function tableInUse(table: number): Promise<boolean> {
  return (await tableRoutes('-4', table)) !== '' || (await tableRoutes('-6', table)) !== '';
}

async function chooseTable(prefix: string): Promise<number> {
  for (let attempt = 0; attempt < TABLE_ATTEMPTS; attempt++) {
    const t = hostRoutingTable(prefix, attempt);
    if (!(await tableInUse(t))) return t;
  }
  throw new FulcrumError('FUL_ERR_LAB_HOST_LINK', `lab "${prefix}": no free routing table for the host link after ${TABLE_ATTEMPTS} attempts`);
}

function nftRuleset(names: LabNames, table: number): string {
  return [
    `table inet ${names.nftTable} {`,
    `  chain prerouting {`,
    `    type filter hook prerouting priority mangle; policy accept;`,
    `    iifname "${names.hostLink}" meta mark set ${table}`,
    `    iifname "${names.hostLink}" ct mark set ${table}`,
    `  }`,
    `  chain output {`,
    `    type route hook output priority mangle; policy accept;`,
    `    ct mark ${table} meta mark set ${table}`,
    `  }`,
    `}`,
    '',
  ].join('\n');
}

/** Creates the host link; its switch end is left in `names.switchNamespace`, for the caller to enslave. */
export async function createHostLink(names: LabNames): Promise<HostLink> {
  const table = await chooseTable(names.prefix);
  const link = names.hostLink;
  await ip(['link', 'add', link, 'address', HOST_MAC, 'type', 'veth', 'peer', 'name', names.hostSwitchPort, 'netns', names.switchNamespace]);
  // No DAD (tests must not wait), no strict reverse-path check, and let that check see the mark.
  const conf = (family: string, key: string, value: string) => writeFile(`/proc/sys/net/${family}/conf/${link}/${key}`, value);
  await conf('ipv6', 'accept_dad', '0');
  await conf('ipv4', 'rp_filter', '0');
  await conf('ipv4', 'src_valid_mark', '1');
  // Answer ARP on the lab link only for the lab host's own address. Without this, a machine
  // whose real NIC holds an address of the node network (this sandbox's eth0 is 192.0.2.2, the
  // lab client's address) answers ARP for it on the lab link, and the nodes' replies to the
  // client go to the root namespace instead.
  await conf('ipv4', 'arp_ignore', '1');
  await conf('ipv4', 'arp_announce', '2');
  await ip(['addr', 'add', `${HOST_IPV4}/24`, 'dev', link, 'noprefixroute']);
  await ip(['-6', 'addr', 'add', `${HOST_IPV6}/64`, 'dev', link, 'nodad', 'noprefixroute']);
  await ip(['link', 'set', link, 'up']);
  const t = String(table);
  await ip(['route', 'add', NODE_NETWORK_V4, 'dev', link, 'table', t]);
  await ip(['-6', 'route', 'add', NODE_NETWORK_V6, 'dev', link, 'table', t]);
  await ip(['route', 'add', NODE_NETWORK_V4, 'dev', link, 'metric', t]);
  await ip(['-6', 'route', 'add', NODE_NETWORK_V6, 'dev', link, 'metric', t]);
  await ip(['rule', 'add', 'fwmark', t, 'lookup', t, 'priority', String(RULE_PRIORITY)]);
  await ip(['-6', 'rule', 'add', 'fwmark', t, 'lookup', t, 'priority', String(RULE_PRIORITY)]);
  await runCommand('nft', ['-f', '-'], { input: nftRuleset(names, table) });
  return { link, ipv4: HOST_IPV4, ipv6: HOST_IPV6, table };
}

/** Removes the host link of this lab, its nftables table and its rules. Idempotent. */
export async function removeHostLink(names: LabNames): Promise<void> {
  await execCommand('nft', ['delete', 'table', 'inet', names.nftTable]);
  await execCommand('ip', ['link', 'delete', names.hostLink]);
  await removeOrphanRules();
}

export function removeHostLinkSync(names: LabNames): void {
  for (const args of [['nft', 'delete', 'table', 'inet', names.nftTable], ['ip', 'link', 'delete', names.hostLink]]) {
    try {
      execFileSync(args[0]!, args.slice(1), { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
  for (const family of ['-4', '-6']) {
    for (const table of orphanTablesSync(family)) {
      try {
        execFileSync('ip', [family, 'rule', 'delete', 'fwmark', String(table), 'lookup', String(table)], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  }
}

interface RuleJson {
  table?: string;
  fwmark?: string;
  priority?: number;
}

function labRuleTables(json: string): number[] {
  const rules = JSON.parse(json || '[]') as RuleJson[];
  const tables = new Set<number>();
  for (const r of rules) {
    const t = Number(r.table);
    if (r.priority === RULE_PRIORITY && r.fwmark !== undefined && Number(r.fwmark) === t && t >= TABLE_RANGE.min && t <= TABLE_RANGE.max) tables.add(t);
  }
  return [...tables];
}

function orphanTablesSync(family: string): number[] {
  try {
    const tables = labRuleTables(execFileSync('ip', [family, '-j', 'rule', 'show'], { encoding: 'utf8' }));
    return tables.filter((t) => tableRoutesSync(family, t) === '');
  } catch {
    return [];
  }
}

/**
 * Deletes lab rules whose table is empty: their link is gone (a link's routes go with it), so
 * the lab that made them has ended or crashed. Routes are added before rules, so a lab being
 * built never has a rule without routes.
 */
export async function removeOrphanRules(): Promise<void> {
  for (const family of ['-4', '-6']) {
    const tables = labRuleTables(await runCommand('ip', [family, '-j', 'rule', 'show']));
    for (const t of tables) {
      if ((await tableRoutes(family, t)) !== '') continue;
      // a rule may have been added twice by an earlier crash; bounded
      for (let i = 0; i < 8; i++) {
        const r = await execCommand('ip', [family, 'rule', 'delete', 'fwmark', String(t), 'lookup', String(t)]);
        if (r.code !== 0) break;
      }
    }
  }
}
