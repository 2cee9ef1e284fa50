import assert from 'node:assert/strict';
import { durationFlag, intFlag, listenFlag, parseCommandArgs } from '../../src/command.js';
import { UsageError } from '../../src/errors.js';

// Every program parses its flags with these; a bad value must be a usage error (exit 2) that
// names the flag and the value, never a stack trace.
describe('cli: flag parsing', () => {
  const durations: [string, string | undefined, number][] = [
    ['a bare number is milliseconds', '250', 250],
    ['ms, s and m units', '1.5s', 1500],
    ['minutes', '2m', 120_000],
    ['absent falls back to the default', undefined, 42],
  ];
  for (const [name, value, want] of durations) it(`durations: ${name}`, () => assert.equal(durationFlag('drain-timeout', value, 42), want));

  const listens: [string, string, { host: string; port: number }][] = [
    ['IPv4 with port', '127.0.0.1:7472', { host: '127.0.0.1', port: 7472 }],
    ['bracketed IPv6', '[::1]:0', { host: '::1', port: 0 }],
    ['an empty host means every address', ':7473', { host: '0.0.0.0', port: 7473 }],
  ];
  for (const [name, value, want] of listens) it(`HOST:PORT: ${name}`, () => assert.deepEqual(listenFlag('metrics', value, { host: 'x', port: 1 }), want));

  const bad: [string, () => unknown, RegExp][] = [
    ['a duration without a number', () => durationFlag('drain-timeout', 'soon', 1), /--drain-timeout: "soon" is not a duration/],
    ['a port past 65535', () => listenFlag('metrics', '127.0.0.1:70000', { host: 'x', port: 1 }), /--metrics: "127.0.0.1:70000" is not HOST:PORT/],
    ['a whole number below its minimum', () => intFlag('nodes', '0', 3, 1, 7), /--nodes: "0" is not a whole number between 1 and 7/],
    ['an unknown option', () => parseCommandArgs(['--bogus'], { real: { type: 'string' } }), /--bogus/],
  ];
  for (const [name, call, message] of bad) {
    it(`usage errors: ${name}`, () => assert.throws(call, (err: unknown) => err instanceof UsageError && message.test(err.message)));
  }
});
