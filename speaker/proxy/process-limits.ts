/**
 * The process-wide budgets of the data plane, shared by every frontend (and every engine) of the
 * process: open TCP/HTTP client connections and UDP flow sockets, with their bounds. The bound
 * of each is, by precedence: the proxy file's top-level `maxconn` (connections; applied by the
 * engine), a flag (`fulcrum speaker --maxconn/--max-udp-flows`, `configureProcessLimits`), else
 * the default derived from the descriptor limit read once from /proc/self/limits (limits.ts).
 * The hot path reads and bumps plain fields of `processBudget`; the metrics read them when
 * scraped. The only I/O here is that one read of /proc.
 */
import { readFileSync } from 'node:fs';
import { defaultProcessLimits, parseOpenFilesLimit, type ProcessLimits } from './limits.js';

/** The live counters and bounds; fields, not getters, so the accept and datagram paths pay a field read. */
export const processBudget = {
  connections: 0,
  maxconn: 0,
  udpFlowSockets: 0,
  maxUdpFlowSockets: 0,
  /** The descriptor limit the defaults came from (undefined: unreadable, the fallback was used). */
  openFiles: undefined as number | undefined,
};

let derived: ProcessLimits | undefined;
let flags: Partial<ProcessLimits> = {};
let fileMaxconn: number | undefined;

/** Reads the soft RLIMIT_NOFILE of this process from /proc (Linux); undefined elsewhere. */
export function readOpenFilesLimit(): number | undefined {
  try {
    return parseOpenFilesLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return undefined;
  }
}

function defaults(): ProcessLimits {
  if (derived === undefined) {
    processBudget.openFiles = readOpenFilesLimit();
    derived = defaultProcessLimits(processBudget.openFiles);
  }
  return derived;
}

function refresh(): void {
  const d = defaults();
  processBudget.maxconn = fileMaxconn ?? flags.maxconn ?? d.maxconn;
  processBudget.maxUdpFlowSockets = flags.udpFlowSockets ?? d.udpFlowSockets;
}

/** The flags of the process (speaker, tests); an absent field goes back to its default. */
export function configureProcessLimits(limits: Partial<ProcessLimits>): void {
  flags = { ...limits };
  refresh();
}

/** The proxy file's top-level `maxconn` (undefined: not set, the flag or the default applies). */
export function setFileMaxconn(maxconn: number | undefined): void {
  fileMaxconn = maxconn;
  refresh();
}

/** The defaults the descriptor limit allows (what a configured bound is compared with). */
export function derivedProcessLimits(): ProcessLimits {
  return defaults();
}

/** The bounds in force (for logs and tests). */
export function currentProcessLimits(): ProcessLimits {
  if (processBudget.maxconn === 0) refresh();
  return { maxconn: processBudget.maxconn, udpFlowSockets: processBudget.maxUdpFlowSockets };
}

refresh();
