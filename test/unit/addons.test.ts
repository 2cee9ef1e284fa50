import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

// npm 11 prints "not yet covered by allowScripts" for packages with install scripts but still
// runs them. This test proves every native addon really was built by `npm ci` and loads here,
// so a silently skipped build fails the suite instead of the first raw socket at run time.
const require = createRequire(import.meta.url);

describe('native addons built by npm ci', () => {
  it('raw-socket loads and exposes createSocket', () => {
    const raw = require('raw-socket') as { createSocket?: unknown; Protocol?: Record<string, number> };
    assert.equal(typeof raw.createSocket, 'function');
    assert.equal(typeof raw.Protocol?.ICMPv6, 'number');
  });

  it('fulcrum_packet (our AF_PACKET addon, binding.gyp) loads and exposes PacketSocket and withNetns', () => {
    const addon = require('../../../build/Release/fulcrum_packet.node') as { PacketSocket?: unknown; withNetns?: unknown };
    assert.equal(typeof addon.PacketSocket, 'function');
    assert.equal(typeof addon.withNetns, 'function');
  });
});
