import type { Logger } from '../../src/log.js';
import type { KernelAvailability } from '../plan/kernel-candidates.js';
import { KernelApplier } from './applier.js';
import { KernelPorts, type KernelPortsPort } from './port.js';

export type KernelModeFlag = 'auto' | 'off';

/**
 * Starts kernel mode for the speaker (`--data-plane-kernel`): `auto` (the default) starts a
 * `KernelApplier` (nft, `nf_conntrack_tcp_loose`; the table itself comes with the first
 * kernel-mode port); when it cannot run, the applier has said why once and the annotated ports
 * stay in the proxy (the plan warns each Service). `off`: never.
 */
export async function startKernelMode(flag: KernelModeFlag, log: Logger): Promise<{ availability: KernelAvailability; port?: KernelPortsPort }> {
  if (flag === 'off') {
    log.info({ event: 'kernelModeOff' }, 'kernel mode off (--data-plane-kernel=off): annotated ports stay in the proxy');
    return { availability: { kind: 'unavailable', reason: 'turned off with --data-plane-kernel=off' } };
  }
  const applier = new KernelApplier({ logger: log });
  const started = await applier.start();
  if (started.kind !== 'enabled') return { availability: started };
  log.info({ event: 'kernelModeEnabled' }, 'kernel mode enabled');
  return { availability: started, port: new KernelPorts(applier, log) };
}
