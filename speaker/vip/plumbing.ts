import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { FulcrumError, errorMessage } from '../../src/errors.js';
import { type Logger, componentLogger } from '../../src/log.js';
import { counter } from '../../src/metrics.js';
import { VIP_DEVICE, type VipPlan, addVipArgs, announcingSysctls, markedVips, planVips, removeVipArgs } from './plan.js';

/**
 * VIP plumbing, the adapter: runs `ip` (and writes /proc/sys) to make the plan of ./plan.ts true on this
 * node. No policy: the caller says which addresses this node owns; apply() is level-triggered
 * and idempotent, so it can be called with the full owned set after every change.
 */

const vipChanges = counter('fulcrum_vip_changes_total', 'Service addresses added to or removed from lo', ['op']);

export type CommandRunner = (argv: readonly string[]) => Promise<string>;

/** Runs a command, resolves with its stdout, rejects (FUL_ERR_VIP_COMMAND) with its stderr in the message. */
export const execRunner: CommandRunner = (argv) =>
  new Promise((resolve, reject) => {
    execFile(argv[0]!, argv.slice(1), { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new FulcrumError('FUL_ERR_VIP_COMMAND', { command: argv.join(' '), reason: stderr.trim() || err.message }, { cause: err }));
      else resolve(stdout);
    });
  });

export interface VipPlumbingOptions {
  /** Interfaces the announcer answers on: they get arp_ignore=1 and arp_announce=2. */
  readonly interfaces: readonly string[];
  /** Run every command inside this network namespace (`ip netns exec`): tests and the lab. */
  readonly netns?: string;
  readonly logger?: Logger;
  readonly run?: CommandRunner;
}

// Removing what is already gone is success: "Address not found" (IPv4), EADDRNOTAVAIL (IPv6).
const ALREADY_GONE = /Address not found|Cannot assign requested address/;

export class VipPlumbing {
  readonly #interfaces: readonly string[];
  readonly #prefix: readonly string[];
  readonly #run: CommandRunner;
  readonly #log: Logger;

  constructor(options: VipPlumbingOptions) {
    this.#interfaces = options.interfaces;
    this.#prefix = options.netns ? ['ip', 'netns', 'exec', options.netns] : [];
    this.#run = options.run ?? execRunner;
    this.#log = options.logger ?? componentLogger('vip', options.netns ? { netns: options.netns } : {});
  }

  #exec(argv: readonly string[]): Promise<string> {
    return this.#run([...this.#prefix, ...argv]);
  }

  /** Makes sure the kernel never answers ARP for addresses on `lo` on the announcing interfaces. */
  async prepareInterfaces(): Promise<void> {
    for (const iface of this.#interfaces) {
      for (const { key, value } of announcingSysctls(iface)) {
        try {
          // In this process's own namespace (the speaker on its node) write /proc/sys directly:
          // a minimal image has no sysctl binary. Inside another namespace (tests), use sysctl there.
          if (this.#prefix.length === 0) await writeFile(`/proc/sys/${key}`, value);
          else await this.#exec(['sysctl', '-q', '-w', `${key}=${value}`]);
        } catch (err) {
          throw new FulcrumError('FUL_ERR_VIP_SYSCTL', { key, value, iface, reason: errorMessage(err) }, { cause: err });
        }
      }
    }
    this.#log.info({ event: 'interfacesPrepared', interfaces: this.#interfaces });
  }

  /** The addresses Fulcrum put on `lo` (by their mark), canonical and sorted. */
  async present(): Promise<string[]> {
    let out: string;
    try {
      out = await this.#exec(['ip', '-j', 'addr', 'show', 'dev', VIP_DEVICE]);
    } catch (err) {
      throw new FulcrumError('FUL_ERR_VIP_LIST', { device: VIP_DEVICE, reason: errorMessage(err) }, { cause: err });
    }
    return markedVips(JSON.parse(out) as unknown);
  }

  /** Makes the marked addresses on `lo` exactly `owned`. Returns what it did. */
  async apply(owned: readonly string[]): Promise<VipPlan> {
    const plan = planVips(await this.present(), owned);
    for (const ip of plan.remove) await this.remove(ip);
    for (const ip of plan.add) await this.add(ip);
    return plan;
  }

  async add(ip: string): Promise<void> {
    try {
      await this.#exec(['ip', ...addVipArgs(ip)]);
    } catch (err) {
      throw new FulcrumError('FUL_ERR_VIP_ADD', { ip, device: VIP_DEVICE, reason: errorMessage(err) }, { cause: err });
    }
    vipChanges.inc({ op: 'add' });
    this.#log.info({ event: 'vipAdded', ip });
  }

  async remove(ip: string): Promise<void> {
    try {
      await this.#exec(['ip', ...removeVipArgs(ip)]);
    } catch (err) {
      if (ALREADY_GONE.test(errorMessage(err))) return;
      throw new FulcrumError('FUL_ERR_VIP_REMOVE', { ip, device: VIP_DEVICE, reason: errorMessage(err) }, { cause: err });
    }
    vipChanges.inc({ op: 'remove' });
    this.#log.info({ event: 'vipRemoved', ip });
  }

  /** Startup cleanup: removes every marked address (a crashed speaker's leftovers). */
  async removeStale(): Promise<string[]> {
    const { remove } = await this.apply([]);
    if (remove.length > 0) this.#log.warn({ event: 'staleVipsRemoved', ips: remove });
    return [...remove];
  }
}
