import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { errorMessage } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { addressRules, KERNEL_TABLE, renderKernelRuleset, renderKernelUpdate, type KernelPortTable } from './ruleset.js';

/**
 * Kernel mode's applier, the adapter (like speaker/vip/handoff.ts): makes the `inet
 * fulcrum_kernel` table what `ruleset.ts` renders, one `nft -f -` transaction per change, and
 * removes it on stop. It decides nothing: the plan says which ports and tables.
 *
 * `start` checks `net.netfilter.nf_conntrack_tcp_loose`: a takeover needs the new owner's
 * conntrack to pick up connections in the middle (loose = 1, the kernel default). It sets it
 * when it is 0; then it has nft check the empty table without loading it (`nft -c`). When it can
 * do neither, `start` says why once: the caller keeps those ports in the proxy.
 *
 * The table is loaded with the first kernel-mode port, not at start: its nat chains turn
 * connection tracking on in the node's namespace, which a node without kernel-mode ports should
 * not pay for. A table a previous run left is replaced at start by the empty one (its chains
 * kept, so flows it forwarded keep their NAT until the first apply).
 */

/** Runs an nft script as one transaction (`nft -f -`), or only checks it (`check`: `nft -c -f -`, nothing loaded); resolves with stdout, rejects with stderr. */
export type NftRunner = (script: string, check?: boolean) => Promise<string>;

/** `nft -f -`, inside `netns` when given (`ip netns exec`: tests and the lab). */
export function nftRunner(netns?: string): NftRunner {
  const prefix = netns === undefined ? ['nft'] : ['ip', 'netns', 'exec', netns, 'nft'];
  return (script, check = false) =>
    new Promise((resolve, reject) => {
      const argv = [...prefix, ...(check ? ['-c'] : []), '-f', '-'];
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.on('error', reject);
      // nft (or ip netns exec) exiting before it read the script closes the pipe: EPIPE here,
      // while 'close' below reports the exit and its stderr
      child.stdin.on('error', () => undefined);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`nft${check ? ' -c' : ''} -f - (${script.split('\n').length} lines): exit ${code}: ${err.trim()}`))));
      child.stdin.end(script);
    });
}

/** Reads and writes one sysctl; tests inject their own. */
export interface SysctlPort {
  read(name: string): Promise<string>;
  write(name: string, value: string): Promise<void>;
}

const procPath = (name: string): string => `/proc/sys/${name.replace(/\./g, '/')}`;

export const procSysctl: SysctlPort = {
  read: async (name) => (await readFile(procPath(name), 'utf8')).trim(),
  write: (name, value) => writeFile(procPath(name), value),
};

export const TCP_LOOSE = 'net.netfilter.nf_conntrack_tcp_loose';

export type KernelStart = { readonly kind: 'enabled' } | { readonly kind: 'unavailable'; readonly reason: string };

export interface KernelApplierOptions {
  readonly logger: Logger;
  readonly run?: NftRunner;
  readonly sysctl?: SysctlPort;
}

export class KernelApplier {
  readonly #log: Logger;
  readonly #run: NftRunner;
  readonly #sysctl: SysctlPort;
  #enabled = false;
  /** The table is in the kernel (loaded by this run, or left by a previous one). */
  #loaded = false;
  /** What the kernel holds, as last applied; undefined: the whole table is written next time. */
  #applied: readonly KernelPortTable[] | undefined = undefined;

  constructor(o: KernelApplierOptions) {
    this.#log = o.logger;
    this.#run = o.run ?? nftRunner();
    this.#sysctl = o.sysctl ?? procSysctl;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** Whether the table is in the kernel: not before the first kernel-mode port (or a previous run's table). */
  get loaded(): boolean {
    return this.#loaded;
  }

  /** Checks the conntrack setting and nft; replaces a table a previous run left with an empty one. Loads nothing else. */
  async start(): Promise<KernelStart> {
    const loose = await this.#looseConntrack();
    if (loose !== undefined) return this.#unavailable(loose);
    // A table a previous run left is replaced at once (the load checks the ruleset too); else nft only checks it.
    const leftover = await this.#run(`list table inet ${KERNEL_TABLE}`).then(() => true, () => false);
    try {
      await this.#run(renderKernelRuleset([]), !leftover);
    } catch (err) {
      return this.#unavailable(`nftables cannot load the ${KERNEL_TABLE} table: ${errorMessage(err)}`);
    }
    if (leftover) {
      this.#loaded = true;
      this.#applied = [];
      this.#log.info({ event: 'kernelTableReplaced' }, `table inet ${KERNEL_TABLE} left by a previous run emptied`);
    }
    this.#enabled = true;
    return { kind: 'enabled' };
  }

  /** Makes the table hold `tables`: one transaction, only what changed; nothing when nothing did (no table while there are no ports). */
  async apply(tables: readonly KernelPortTable[]): Promise<void> {
    if (!this.#enabled) throw new Error(`KernelApplier.apply: kernel mode is not enabled (start() said unavailable), ${tables.length} ports asked`);
    if (!this.#loaded && tables.length === 0) return;
    const script = this.#applied === undefined ? renderKernelRuleset(tables) : renderKernelUpdate(this.#applied, tables);
    if (script === '') return;
    try {
      await this.#run(script);
      this.#applied = tables;
      if (!this.#loaded) this.#log.info({ event: 'kernelTableLoaded', ports: tables.length }, `table inet ${KERNEL_TABLE} loaded with the first kernel-mode ports`);
      this.#loaded = true;
    } catch (err) {
      // nft -f is all or nothing, but rewrite the whole table next time rather than trust our copy.
      this.#applied = undefined;
      this.#log.warn({ event: 'kernelApplyFailed', ports: tables.map((t) => t.port.name), err: errorMessage(err) }, 'kernel-mode ports not updated');
      throw err;
    }
  }

  /**
   * Clean stop of a speaker that hands its addresses over: the table is emptied but its chains
   * stay. Open flows keep their NAT only while a nat chain is registered in the namespace (the
   * kernel unhooks NAT with the last one), and the new owner forwards them here during its
   * handoff: deleting the table would cut them. The raw rules of its addresses stay: the new
   * owner's flows to pods on this node come from the VIP, and tracked here they would clash with
   * this node's old entries. The next start replaces the table. No table: nothing to do.
   */
  async release(): Promise<void> {
    if (!this.#enabled) return;
    this.#enabled = false;
    if (!this.#loaded) return;
    const ports = (this.#applied ?? []).map((t) => t.port);
    this.#applied = undefined;
    await this.#run([renderKernelRuleset([]), ...addressRules(ports)].join('\n')).catch((err: unknown) => this.#log.warn({ event: 'kernelReleaseFailed', err: errorMessage(err) }, `table inet ${KERNEL_TABLE} not emptied`));
  }

  /** Removes the table (clean stop): forwarding stops, the conntrack entries age out. */
  async close(): Promise<void> {
    if (!this.#enabled) return;
    this.#enabled = false;
    this.#applied = undefined;
    if (!this.#loaded) return;
    this.#loaded = false;
    await this.#run(`delete table inet ${KERNEL_TABLE}`).catch((err: unknown) => this.#log.warn({ event: 'kernelCloseFailed', err: errorMessage(err) }, `table inet ${KERNEL_TABLE} not removed`));
  }

  /** undefined when loose pickup is on (or was just turned on); else why kernel mode cannot run. */
  async #looseConntrack(): Promise<string | undefined> {
    let value: string;
    try {
      value = await this.#sysctl.read(TCP_LOOSE);
    } catch (err) {
      return `${TCP_LOOSE} cannot be read (${errorMessage(err)}): is nf_conntrack loaded?`;
    }
    if (value === '1') return undefined;
    try {
      await this.#sysctl.write(TCP_LOOSE, '1');
      this.#log.info({ event: 'kernelConntrackLoose', was: value }, `${TCP_LOOSE} set to 1 so a new owner picks up open connections`);
      return undefined;
    } catch (err) {
      return `${TCP_LOOSE} is "${value}" and cannot be set to 1 (${errorMessage(err)}): open connections would be reset on a takeover; set it on the node`;
    }
  }

  #unavailable(reason: string): KernelStart {
    // info: most nodes never see a kernel-mode port; a Service that asks gets a Warning Event naming this reason
    this.#log.info({ event: 'kernelModeUnavailable', reason }, 'kernel mode unavailable: its ports stay in the proxy');
    return { kind: 'unavailable', reason };
  }
}
