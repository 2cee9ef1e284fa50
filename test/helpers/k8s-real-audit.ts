import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * Counts the requests the tests made to a real kube-apiserver, from its audit log (one JSON line
 * per request at the RequestReceived stage, written before the request is served: see the
 * `auditLog` option of startRealControlPlane). Keys are the emulator's (`requestCounts()` in
 * lab/apiserver/index.ts): `"VERB resource[/subresource]"` for resources, `"get /path"` otherwise.
 * The control plane's own users (the apiserver's loopback client, the controller-manager and its
 * per-controller service accounts) are left out: they are not the code under test.
 */

interface AuditEvent {
  readonly verb?: string;
  readonly requestURI?: string;
  readonly user?: { readonly username?: string };
  readonly objectRef?: { readonly resource?: string; readonly subresource?: string };
}

function controlPlaneUser(name: string): boolean {
  return name === 'system:apiserver' || name === 'system:kube-controller-manager' || name.startsWith('system:serviceaccount:kube-system:');
}

/** The emulator's request key for one audit event; undefined for the control plane's own requests. */
export function auditKey(e: AuditEvent): string | undefined {
  if (controlPlaneUser(e.user?.username ?? '')) return undefined;
  const verb = e.verb ?? '?';
  const ref = e.objectRef;
  if (ref?.resource) return `${verb} ${ref.resource}${ref.subresource ? `/${ref.subresource}` : ''}`;
  return `${verb} ${(e.requestURI ?? '').split('?')[0]}`;
}

export class AuditCounter {
  readonly #path: string;
  #offset = 0;
  #partial = '';
  readonly #counts = new Map<string, number>();

  constructor(path: string) {
    this.#path = path;
  }

  /** Every request logged so far, by key (reads what was appended since the last call). */
  counts(): Record<string, number> {
    this.#readNew();
    return Object.fromEntries([...this.#counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  #readNew(): void {
    let fd: number;
    try {
      fd = openSync(this.#path, 'r');
    } catch {
      return; // nothing logged yet
    }
    try {
      const size = fstatSync(fd).size;
      if (size <= this.#offset) return;
      const buf = Buffer.alloc(size - this.#offset);
      const n = readSync(fd, buf, 0, buf.length, this.#offset);
      this.#offset += n;
      const lines = (this.#partial + buf.subarray(0, n).toString('utf8')).split('\n');
      this.#partial = lines.pop() ?? ''; // a line still being written
      for (const line of lines) {
        if (!line.trim()) continue;
        const key = auditKey(JSON.parse(line) as AuditEvent);
        if (key) this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
      }
    } finally {
      closeSync(fd);
    }
  }
}
