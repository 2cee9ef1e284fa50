// Per-CPU busy time from /proc/stat, sampled around each measurement: it tells which side
// (load generator + backend, or proxy) was the limit of a run.
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Jiffies per CPU: busy (everything but idle and iowait) and total. */
export type CpuTimes = ReadonlyArray<{ busy: number; total: number }>;

/** Parses the `cpuN` lines of /proc/stat (pure, for tests). */
export function parseProcStat(text: string): CpuTimes {
  const out: Array<{ busy: number; total: number }> = [];
  for (const line of text.split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice; guest is already in user.
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    out[Number(m[1])] = { busy: total - idle, total };
  }
  return out;
}

export function readCpuTimes(): CpuTimes {
  try {
    return parseProcStat(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return [];
  }
}

/** Busy share (0..100) of each CPU between two samples. */
export function busyPercent(before: CpuTimes, after: CpuTimes): number[] {
  return after.map((a, i) => {
    const b = before[i];
    if (!b || a.total === b.total) return 0;
    return (100 * (a.busy - b.busy)) / (a.total - b.total);
  });
}

/**
 * Which CPUs the load side and the proxy side get. With two or more CPUs: the load generator
 * and the backend share CPU 0 and the proxy (every path's: haproxy's threads, Fulcrum's
 * workers) gets CPU 1, or CPUs 1..N-1 when it has more workers than one and the machine has
 * more than two CPUs; with `workers` ≥ the CPU count everything floats on all CPUs.
 */
export interface CpuPlan {
  cpuCount: number;
  loadCpus: string | undefined;
  proxyCpus: string | undefined;
  description: string;
}

export function planCpus(cpuCount: number, workers: number): CpuPlan {
  if (cpuCount < 2 || workers >= cpuCount) {
    return { cpuCount, loadCpus: undefined, proxyCpus: undefined, description: `no pinning: ${cpuCount} CPU(s), ${workers} proxy worker(s) float with the load generator` };
  }
  const proxyCpus = workers === 1 ? '1' : `1-${Math.min(cpuCount - 1, workers)}`;
  return {
    cpuCount,
    loadCpus: '0',
    proxyCpus,
    description: `load generator + backend pinned to CPU 0, proxy (haproxy threads / Fulcrum workers) pinned to CPU ${proxyCpus}`,
  };
}

export function cpuCount(): number {
  return availableParallelism();
}

/** USER_HZ: the unit of utime/stime in /proc/PID/stat, 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS_PER_S = 100;

/** user+system seconds from one /proc/PID/stat line, with its parent (pure, for tests). */
export function parsePidStat(line: string): { pid: number; ppid: number; cpuSeconds: number } | null {
  const close = line.lastIndexOf(')'); // the command name may contain spaces and parentheses
  if (close < 0) return null;
  const pid = Number(line.slice(0, line.indexOf(' ')));
  const f = line.slice(close + 2).split(' ');
  // f[0] is field 3 (state): ppid is field 4, utime 14, stime 15
  const ppid = Number(f[1]);
  const ticks = Number(f[11]) + Number(f[12]);
  if (!Number.isFinite(pid) || !Number.isFinite(ppid) || !Number.isFinite(ticks)) return null;
  return { pid, ppid, cpuSeconds: ticks / CLOCK_TICKS_PER_S };
}

/** Sum of cpuSeconds over `root` and all its descendants (pure, for tests). */
export function treeCpuSeconds(procs: ReadonlyArray<{ pid: number; ppid: number; cpuSeconds: number }>, root: number): number {
  const children = new Map<number, number[]>();
  const own = new Map<number, number>();
  for (const p of procs) {
    own.set(p.pid, p.cpuSeconds);
    const list = children.get(p.ppid);
    if (list) list.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }
  let sum = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    sum += own.get(pid) ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return sum;
}

/**
 * CPU seconds used so far by a live process and all its descendants (a proxy with all its
 * threads and worker processes, even ones that left the process group). Unlike a core's busy
 * time it is not inflated by whatever else runs on the machine; it leaves out softirq work the
 * kernel does on the processes' behalf.
 */
export function processTreeCpuSeconds(root: number): number {
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return 0;
  }
  const procs: Array<{ pid: number; ppid: number; cpuSeconds: number }> = [];
  for (const name of entries) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    try {
      const s = parsePidStat(readFileSync(`/proc/${name}/stat`, 'utf8'));
      if (s) procs.push(s);
    } catch {
      // the process exited between readdir and read
    }
  }
  return treeCpuSeconds(procs, root);
}
