import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { ownedByPrefix, labNames } from './addressing.js';
import { removeHostLink, removeHostLinkSync, removeOrphanRules } from './host-link.js';
import { deleteNamespace, deleteNamespaceSync, listLinks, listNamespaces, listNamespacesSync, listRootLinksSync, execCommand } from './netns.js';

/**
 * What a lab with a given prefix may have left behind after a crash or a SIGKILL: namespaces
 * `<prefix>-*` (and the processes inside them), root links `<prefix>-*`, its nftables table (if
 * nft is installed) and its policy-routing rules (`fwmark T lookup T`, or without nftables
 * `from <lab host> lookup T`; a rule goes once its table is empty, i.e. its link is gone).
 * Removing it all is the first step of every start and the last of every stop.
 */

export interface Leftovers {
  readonly namespaces: string[];
  readonly rootLinks: string[];
}

export async function findLeftovers(prefix: string): Promise<Leftovers> {
  return {
    namespaces: (await listNamespaces()).filter((n) => ownedByPrefix(prefix, n)),
    rootLinks: (await listLinks()).filter((n) => ownedByPrefix(prefix, n)),
  };
}

/** Removes everything with this prefix; returns what was found. Pods first, then nodes, then the switch. */
export async function removeLeftovers(prefix: string): Promise<Leftovers> {
  const found = await findLeftovers(prefix);
  // deepest names first: pods (`p-n1-p1`) before their node (`p-n1`)
  const order = [...found.namespaces].sort((a, b) => b.length - a.length || a.localeCompare(b));
  for (const ns of order) await deleteNamespace(ns);
  await removeHostLink(labNames(prefix));
  for (const link of found.rootLinks) await execCommand('ip', ['link', 'delete', link]);
  await removeOrphanRules();
  return found;
}

/** The same, synchronously, for `process.on('exit')`, where nothing asynchronous runs. */
export function removeLeftoversSync(prefix: string): void {
  let namespaces: string[] = [];
  try {
    namespaces = listNamespacesSync().filter((n) => ownedByPrefix(prefix, n));
  } catch {
    // ip missing or failing: nothing more we can do at exit
  }
  for (const ns of namespaces.sort((a, b) => b.length - a.length)) deleteNamespaceSync(ns);
  removeHostLinkSync(labNames(prefix));
  try {
    for (const link of listRootLinksSync().filter((n) => ownedByPrefix(prefix, n))) {
      try {
        execFileSync('ip', ['link', 'delete', link], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  } catch {
    // as above
  }
}

/**
 * SIGKILLs the processes whose command line mentions one of `paths`, and returns their pids: what
 * a lab killed with SIGKILL left outside its namespaces (the allocator in the root namespace, the
 * real control plane in process groups of its own), found by the files it gave them.
 */
export function killProcessesMentioning(paths: readonly string[]): number[] {
  if (paths.length === 0) return [];
  const killed: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number)) {
    if (pid === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    if (!paths.some((p) => cmdline.includes(p))) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return killed;
}
