import { fileURLToPath } from 'node:url';
import { runProbe } from './probe.js';

/**
 * The failover demo's client (`node dist/lab/failover-client.js HOST PORT [EVERY_MS [TIMEOUT_MS]]`),
 * run in the client namespace: a new TCP connection every EVERY_MS (default 10) to HOST:PORT, each
 * one the probe's TCP echo (lab/probe.ts) with its own deadline (default 1000 ms), and one line per
 * attempt on stdout when it ends: {"n":<sequence from 0>,"at":<start, ms since the epoch>,"ok":true,"ms":3},
 * or with "reason". Runs until killed. Imports only the probe, so it starts fast.
 */

const TEXT = 'fulcrum-failover';

function main(argv: readonly string[]): number {
  const [host, port, every = '10', timeout = '1000'] = argv;
  const everyMs = Number(every);
  const timeoutMs = Number(timeout);
  if (!host || !Number.isInteger(Number(port)) || !(everyMs > 0) || !(timeoutMs > 0)) {
    process.stderr.write('usage: node dist/lab/failover-client.js HOST PORT [EVERY_MS [TIMEOUT_MS]]\n');
    return 2;
  }
  let n = 0;
  setInterval(() => {
    const at = Date.now();
    const seq = n++;
    void runProbe({ kind: 'tcp', host, port: Number(port), text: TEXT, path: '/', timeoutMs, holdMs: 0, everyMs: 0 }).then((r) => {
      const ok = r.ok && r.reply === TEXT;
      process.stdout.write(`${JSON.stringify({ n: seq, at, ok, ms: r.ms, ...(ok ? {} : { reason: r.ok ? 'answer' : (r.reason ?? 'error') }) })}\n`);
    });
  }, everyMs);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const code = main(process.argv.slice(2));
  if (code !== 0) process.exitCode = code;
}
