import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execCommand, runCommand } from '../../lab/netns.js';

describe('lab commands: execCommand with input (no root needed)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-exec-'));
    // exits at once without reading its input, as an nft that cannot load rules does
    writeFileSync(join(dir, 'refuse'), '#!/bin/sh\necho "Error: Operation not supported" >&2\nexit 1\n', { mode: 0o755 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a command that exits without reading a large input gives its exit status, not an uncaught EPIPE', async () => {
    for (let i = 0; i < 20; i++) {
      const r = await execCommand(join(dir, 'refuse'), [], { input: 'x'.repeat(1 << 20) });
      assert.deepEqual([r.code, r.stderr.trim()], [1, 'Error: Operation not supported']);
    }
    await assert.rejects(runCommand(join(dir, 'refuse'), ['-f', '-'], { input: 'add table ip t\n'.repeat(50_000) }), /refuse -f -: exit 1: Error: Operation not supported/);
  });

  it('a command that reads its input gets all of it', async () => {
    const input = 'line\n'.repeat(100_000);
    const r = await execCommand('wc', ['-c'], { input });
    assert.deepEqual([r.code, r.stdout.trim()], [0, String(input.length)]);
  });
});
