import { execFileSync } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, FulcrumError } from '../src/errors.js';
import { HOST_IPV4, HOST_IPV6, HOST_MAC, hostRoutingTable, NODE_NETWORK_V4, NODE_NETWORK_V6, type LabNames } from './addressing.js';
import { execCommand, ip, runCommand } from './netns.js';

/**
 * The veth from the root namespace to the lab's switch: 192.0.2.254/24 and 2001:db8::fe/64 on
 * the root side, where the in-process API emulator listens.
 *
 * All labs use the same node addresses, so the root namespace cannot route replies to a lab by
 * destination alone. Each lab gets a routing table T holding its node network, and one of two
 * ways to send replies there:
 *
 * - nftables (when `nft` is there): T is also a firewall mark. nftables marks the connections
 *   that come in on this lab's host link with ct mark T and copies it to every locally generated
 *   reply (a `route` chain re-routes marked packets), and `ip rule fwmark T lookup T` sends them
 *   back on the same link. Several labs (each engineer's tests, with their own prefix) can run
 *   side by side.
 * - a source-address rule (no nft, or FULCRUM_LAB_NFT=0): `ip rule from 192.0.2.254 lookup T`
 *   (and 2001:db8::fe), since every reply of the lab host carries that source. Only iproute2 is
 *   needed, but one such rule serves one lab: a second lab without nftables is refused, with a
 *   message naming the one that holds it. It sits after the fwmark rules, so labs that have
 *   nftables still run beside it.
 *
 * Connections started from the root namespace use the main table, where each lab's route has
 * metric T: with several labs up, the lowest T wins.
 */

/** Before `main` (32766); every lab's fwmark rule has the same priority, they differ by mark. */
const RULE_PRIORITY = 1000;
/** After the fwmark rules, so a marked reply of an nftables lab never takes the source rule. */
const SOURCE_RULE_PRIORITY = 1001;
const TABLE_ATTEMPTS = 16;
const TABLE_RANGE = { min: 0x4c00, max: 0x4fff };
const HOST_ADDRESSES: readonly { family: '-4' | '-6'; address: string }[] = [{ family: '-4', address: HOST_IPV4 }, { family: '-6', address: HOST_IPV6 }];
export const NFT_ENV = 'FULCRUM_LAB_NFT';

/** FULCRUM_LAB_NFT: unset or `auto` (nftables when it works), `1` (nftables or fail), `0` (the source rule). */
export type NftSetting = 'auto' | 'required' | 'off';

/** How the root namespace's replies find their way back to this lab. */
export type ReplyRouting =
  | { readonly kind: 'nftables' }
  | { readonly kind: 'sourceRule'; readonly reason: 'forced' | 'nftMissing' | 'nftFailed'; readonly detail?: string };

export interface HostLink {
  readonly link: string;
  readonly ipv4: string;
  readonly ipv6: string;
  readonly table: number;
  readonly routing: ReplyRouting;
}

/** Reads FULCRUM_LAB_NFT; throws FUL_ERR_LAB_NFT for any other value. Pure. */
export function nftSetting(value: string | undefined): NftSetting {
  if (value === undefined || value === '' || value === 'auto') return 'auto';
  if (value === '1') return 'required';
  if (value === '0') return 'off';
  throw new FulcrumError('FUL_ERR_LAB_NFT', { variable: NFT_ENV, value, reason: 'must be 0 (no nftables: one lab at a time), 1 (nftables required) or auto (the default)' });
}

/** Is `tool` an executable file in a directory of PATH? (`command -v` without a shell.) */
export function onPath(tool: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    try {
      accessSync(join(dir, tool), fsConstants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** One line for the lab's progress output: how replies reach the lab, and what that allows. Pure. */
export function describeReplyRouting(host: HostLink): string {
  const where = `host link ${host.link} (${host.ipv4}, ${host.ipv6})`;
  const r = host.routing;
  if (r.kind === 'nftables') return `${where}: replies routed by nftables marks (table ${host.table}); other labs can run beside this one`;
  const why = r.reason === 'forced' ? `${NFT_ENV}=0` : r.reason === 'nftMissing' ? 'nft not found' : `nft failed: ${r.detail ?? '?'}`;
  return `${where}: replies routed by source address (ip rule from ${host.ipv4} lookup ${host.table}; ${why}); one such lab at a time, install nftables to run several`;
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
  throw new FulcrumError('FUL_ERR_LAB_ROUTING_TABLE', { lab: prefix, attempts: TABLE_ATTEMPTS });
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

/** The routing to try first, before anything is built; a failing `nft` may still turn nftables into the source rule. */
function plannedRouting(setting: NftSetting, prefix: string): ReplyRouting {
  if (setting === 'off') return { kind: 'sourceRule', reason: 'forced' };
  if (onPath('nft')) return { kind: 'nftables' };
  if (setting === 'required') throw new FulcrumError('FUL_ERR_LAB_NFT', { variable: NFT_ENV, value: '1', reason: `lab "${prefix}" needs nft, which is not on PATH (install nftables)` });
  return { kind: 'sourceRule', reason: 'nftMissing' };
}

/** Creates the host link; its switch end is left in `names.switchNamespace`, for the caller to enslave. */
export async function createHostLink(names: LabNames): Promise<HostLink> {
  const setting = nftSetting(process.env[NFT_ENV]);
  let routing = plannedRouting(setting, names.prefix);
  // fail before building anything when another lab already holds the source rule
  if (routing.kind === 'sourceRule') await assertSourceRuleFree(routing, undefined);
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
  // routes before rules: a lab rule whose table is empty is an orphan (see removeOrphanRules)
  await ip(['route', 'add', NODE_NETWORK_V4, 'dev', link, 'table', t]);
  await ip(['-6', 'route', 'add', NODE_NETWORK_V6, 'dev', link, 'table', t]);
  await ip(['route', 'add', NODE_NETWORK_V4, 'dev', link, 'metric', t]);
  await ip(['-6', 'route', 'add', NODE_NETWORK_V6, 'dev', link, 'metric', t]);
  if (routing.kind === 'nftables') {
    try {
      await runCommand('nft', ['-f', '-'], { input: nftRuleset(names, table) });
    } catch (err) {
      if (setting === 'required') throw err;
      // e.g. a kernel without nf_tables, or a container that may not load rules
      routing = { kind: 'sourceRule', reason: 'nftFailed', detail: errorMessage(err).slice(0, 200) };
      await assertSourceRuleFree(routing, table);
    }
  }
  if (routing.kind === 'nftables') {
    await ip(['rule', 'add', 'fwmark', t, 'lookup', t, 'priority', String(RULE_PRIORITY)]);
    await ip(['-6', 'rule', 'add', 'fwmark', t, 'lookup', t, 'priority', String(RULE_PRIORITY)]);
  } else {
    for (const { family, address } of HOST_ADDRESSES) await ip([family, 'rule', 'add', 'from', address, 'lookup', t, 'priority', String(SOURCE_RULE_PRIORITY)]);
    // two labs may have checked at the same moment: whoever sees the other gives up
    await assertSourceRuleFree(routing, table);
  }
  return { link, ipv4: HOST_IPV4, ipv6: HOST_IPV6, table, routing };
}

/** Removes the host link of this lab, its nftables table and its rules. Idempotent. */
export async function removeHostLink(names: LabNames): Promise<void> {
  if (onPath('nft')) await execCommand('nft', ['delete', 'table', 'inet', names.nftTable]);
  await execCommand('ip', ['link', 'delete', names.hostLink]);
  await removeOrphanRules();
}

export function removeHostLinkSync(names: LabNames): void {
  const commands = [...(onPath('nft') ? [['nft', 'delete', 'table', 'inet', names.nftTable]] : []), ['ip', 'link', 'delete', names.hostLink]];
  for (const args of commands) {
    try {
      execFileSync(args[0]!, args.slice(1), { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
  for (const family of ['-4', '-6'] as const) {
    for (const rule of orphanRulesSync(family)) {
      try {
        execFileSync('ip', [family, 'rule', 'delete', ...ruleSelector(rule)], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  }
}

/** A row of `ip -j rule show`. */
export interface RuleJson {
  readonly priority?: number;
  readonly src?: string;
  readonly fwmark?: string;
  readonly table?: string;
}

/** A policy rule made by some lab: `fwmark T lookup T` or `from <lab host> lookup T`. */
export interface LabRule {
  readonly table: number;
  readonly priority: number;
  readonly match: { readonly kind: 'fwmark' } | { readonly kind: 'from'; readonly address: string };
}

/** The rules that labs make, out of `ip -j rule show` (either family). Pure. */
export function labRules(rules: readonly RuleJson[]): LabRule[] {
  const out: LabRule[] = [];
  for (const r of rules) {
    const table = Number(r.table);
    if (!Number.isInteger(table) || table < TABLE_RANGE.min || table > TABLE_RANGE.max) continue;
    if (r.priority === RULE_PRIORITY && r.fwmark !== undefined && Number(r.fwmark) === table) out.push({ table, priority: RULE_PRIORITY, match: { kind: 'fwmark' } });
    if (r.priority === SOURCE_RULE_PRIORITY && r.fwmark === undefined && HOST_ADDRESSES.some((h) => h.address === r.src)) {
      out.push({ table, priority: SOURCE_RULE_PRIORITY, match: { kind: 'from', address: r.src! } });
    }
  }
  return out;
}

/** What follows `ip rule delete` for this rule. */
function ruleSelector(rule: LabRule): string[] {
  const match = rule.match.kind === 'fwmark' ? ['fwmark', String(rule.table)] : ['from', rule.match.address];
  return [...match, 'lookup', String(rule.table), 'priority', String(rule.priority)];
}

function parseRules(json: string): LabRule[] {
  return labRules(JSON.parse(json || '[]') as RuleJson[]);
}

function orphanRulesSync(family: '-4' | '-6'): LabRule[] {
  try {
    const rules = parseRules(execFileSync('ip', [family, '-j', 'rule', 'show'], { encoding: 'utf8' }));
    return rules.filter((r) => tableRoutesSync(family, r.table) === '');
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
  for (const family of ['-4', '-6'] as const) {
    for (const rule of parseRules(await runCommand('ip', [family, '-j', 'rule', 'show']))) {
      if ((await tableRoutes(family, rule.table)) !== '') continue;
      // a rule may have been added twice by an earlier crash; bounded
      for (let i = 0; i < 8; i++) {
        const r = await execCommand('ip', [family, 'rule', 'delete', ...ruleSelector(rule)]);
        if (r.code !== 0) break;
      }
    }
  }
}

/** Tables of live source rules other than `own`, with the link their routes use (`<prefix>-host`). */
async function sourceRuleHolders(own: number | undefined): Promise<{ table: number; link: string | undefined }[]> {
  const holders = new Map<number, string | undefined>();
  for (const family of ['-4', '-6'] as const) {
    for (const rule of parseRules(await runCommand('ip', [family, '-j', 'rule', 'show']))) {
      if (rule.match.kind !== 'from' || rule.table === own || holders.has(rule.table)) continue;
      const r = await execCommand('ip', [family, '-j', 'route', 'show', 'table', String(rule.table)]);
      const routes = r.code === 0 ? (JSON.parse(r.stdout || '[]') as { dev?: string }[]) : [];
      if (routes.length > 0) holders.set(rule.table, routes[0]!.dev);
    }
  }
  return [...holders].map(([table, link]) => ({ table, link }));
}

/**
 * Throws FUL_ERR_LAB_HOST_LINK, naming the holder and the ways out, if another lab holds the
 * source rule. The message does not repeat the lab's prefix: Topology.create wraps it with one.
 */
async function assertSourceRuleFree(routing: ReplyRouting, own: number | undefined): Promise<void> {
  const [holder] = await sourceRuleHolders(own);
  if (!holder) return;
  const other = holder.link?.endsWith('-host') ? holder.link.slice(0, -'-host'.length) : undefined;
  const who = other ? `lab "${other}" (link ${holder.link})` : `another lab (routing table ${holder.table})`;
  const why = routing.kind === 'sourceRule' && routing.reason === 'forced' ? `${NFT_ENV}=0 is set` : routing.kind === 'sourceRule' && routing.reason === 'nftFailed' ? `nft failed: ${routing.detail}` : 'nft is not installed';
  throw new FulcrumError('FUL_ERR_LAB_HOST_LINK', {
    why,
    source: HOST_IPV4,
    holder: who,
    freeHint: holder.link ? ` (if it is not running any more, "ip link del ${holder.link}" frees the rule)` : '',
    unsetHint: routing.kind === 'sourceRule' && routing.reason === 'forced' ? ` and unset ${NFT_ENV}` : '',
  });
}
