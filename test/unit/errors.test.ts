import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, FulcrumError, TerminalError, UsageError, renderMessage, type ErrorCode } from '../../src/errors.js';
import { ApiStatusError } from '../../lab/apiserver/status.js';
import { ApiRequestError } from '../../lab/kube-rest.js';
import { StopWaiting } from '../../lab/netns.js';
import { ProxyConfigError } from '../../speaker/proxy/file.js';

// The compiled test runs from dist/test/unit/: the repository root, with the .ts sources, is three levels up.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SOURCE_DIRS = ['bin', 'src', 'allocator', 'speaker', 'lab', 'bench'];
const REGISTRY_FILE = 'src/error-codes.ts';
const CODE_LITERAL = /\bFUL_(?:ERR|WARN)_[A-Z0-9_]*[A-Z0-9]/g;
const PLACEHOLDER = /\{(\w+)\}/g;

const CODES = Object.keys(ERROR_CODES) as ErrorCode[];

interface SourceFile {
  readonly path: string; // relative to the repository root
  readonly lines: readonly string[];
}

function sourceFiles(): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push({ path: relative(ROOT, full), lines: readFileSync(full, 'utf8').split('\n') });
    }
  };
  for (const dir of SOURCE_DIRS) walk(join(ROOT, dir));
  return out;
}

/** Every parameter a template names, each with a sample value no other parameter contains. */
function sampleParams(code: ErrorCode): Record<string, string> {
  const names = [...ERROR_CODES[code].template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
  return Object.fromEntries(names.map((name, i) => [name, `<${name}#${i}>`]));
}

/** Any registered code with any params: the table loops over codes the compiler cannot narrow. */
function raise(code: ErrorCode, params: Record<string, string>, options?: { cause?: unknown }): FulcrumError {
  return new FulcrumError(code, params as never, options);
}

describe('error registry: every code renders its template', () => {
  it('the registry has codes, each FUL_ERR_* or FUL_WARN_* with a template and a summary', () => {
    assert.ok(CODES.length > 50, `${CODES.length} codes`);
    for (const code of CODES) {
      assert.match(code, /^FUL_(ERR|WARN)_[A-Z0-9_]+$/, code);
      const spec: { template: string; summary?: string } = ERROR_CODES[code];
      assert.ok(spec.template.length > 0, `${code}: template`);
      assert.ok(spec.summary && spec.summary.length > 0, `${code}: summary`);
    }
  });

  for (const code of CODES) {
    it(`${code} names every parameter it is given and leaves no placeholder`, () => {
      const params = sampleParams(code);
      const cause = new Error('underlying');
      const err = raise(code, params, { cause });
      assert.equal(err.code, code, 'code is the registry key');
      assert.equal(err.name, 'FulcrumError');
      assert.equal(err.cause, cause, 'cause is kept');
      assert.equal(err.message, renderMessage(code, params as never));
      for (const [name, value] of Object.entries(params)) assert.ok(err.message.includes(value), `${code}: message ${JSON.stringify(err.message)} names {${name}}`);
      assert.doesNotMatch(err.message, /[{}]/, `${code}: no unreplaced placeholder in ${JSON.stringify(err.message)}`);
    });
  }

  it('a value that looks like a placeholder is printed as it is, not filled in again', () => {
    const err = new FulcrumError('FUL_ERR_VIP_ADD', { ip: '{device}', device: 'lo', reason: '{ip}' });
    assert.equal(err.message, 'adding service address {device} to "lo": {ip}');
  });

  it('numbers are rendered as they print', () => {
    assert.equal(new FulcrumError('FUL_ERR_LAB_TIMEOUT', { timeoutMs: 1500, what: 'the API' }).message, 'timed out after 1500 ms waiting for the API');
  });

  it('the compiler refuses a missing parameter, an unknown parameter and an unregistered code', () => {
    // @ts-expect-error: `reason` is missing
    const missing = () => new FulcrumError('FUL_ERR_VIP_ADD', { ip: '192.0.2.1', device: 'lo' });
    // @ts-expect-error: `extra` is not a parameter of the template
    const extra = () => new FulcrumError('FUL_ERR_LAB_TIMEOUT', { timeoutMs: 1, what: 'x', extra: 1 });
    // @ts-expect-error: not a registered code
    const unknown = () => new FulcrumError('FUL_ERR_NOT_REGISTERED', {});
    // @ts-expect-error: a code typed as any code cannot have its parameters checked
    const loose = (code: ErrorCode) => new FulcrumError(code, { what: 'x' });
    // tsc is the check: each line above fails to compile without its @ts-expect-error. At run time
    // the message still comes out, with the placeholder left visible rather than invented.
    assert.equal(missing().message, 'adding service address 192.0.2.1 to "lo": {reason}');
    void [extra, unknown, loose];
  });
});

describe('error classes: name, code, cause and base class', () => {
  const cause = new Error('underlying');
  const rows: Array<{ name: string; make: () => Error; className: string; code?: ErrorCode; message: string; cause?: unknown; fulcrum: boolean }> = [
    {
      name: 'a FulcrumError carries its code, its rendered message and its cause',
      make: () => new FulcrumError('FUL_ERR_VIP_ADD', { ip: '192.0.2.10', device: 'lo', reason: 'Operation not permitted' }, { cause }),
      className: 'FulcrumError',
      code: 'FUL_ERR_VIP_ADD',
      message: 'adding service address 192.0.2.10 to "lo": Operation not permitted',
      cause,
      fulcrum: true,
    },
    {
      name: 'a UsageError is FUL_ERR_USAGE with the message as given',
      make: () => new UsageError('--nodes: "8" is not a whole number from 1 to 7', { cause }),
      className: 'UsageError',
      code: 'FUL_ERR_USAGE',
      message: '--nodes: "8" is not a whole number from 1 to 7',
      cause,
      fulcrum: true,
    },
    {
      name: 'a TerminalError takes a registered code and its parameters',
      make: () => new TerminalError('FUL_ERR_IPAM_INCOHERENT', { what: 'default/web holds 192.0.2.9 outside pool "a"' }, { cause }),
      className: 'TerminalError',
      code: 'FUL_ERR_IPAM_INCOHERENT',
      message: 'incoherent ipam state: default/web holds 192.0.2.9 outside pool "a"',
      cause,
      fulcrum: true,
    },
    {
      name: 'a ProxyConfigError lists every problem, one per line',
      make: () => new ProxyConfigError(['workers: 0 is not a whole number between 1 and 64', 'frontends: 1 is not a list']),
      className: 'ProxyConfigError',
      code: 'FUL_ERR_PROXY_CONFIG',
      message: 'proxy config has 2 problems:\n  workers: 0 is not a whole number between 1 and 64\n  frontends: 1 is not a list',
      fulcrum: true,
    },
    {
      name: 'a ProxyConfigError with one problem says "problem"',
      make: () => new ProxyConfigError(['frontends: 1 is not a list']),
      className: 'ProxyConfigError',
      code: 'FUL_ERR_PROXY_CONFIG',
      message: 'proxy config has 1 problem:\n  frontends: 1 is not a list',
      fulcrum: true,
    },
    {
      name: "an ApiRequestError names the request and the server's answer",
      make: () => new ApiRequestError('GET', '/api/v1/namespaces/default/services/web', 404, 'services "web" not found'),
      className: 'ApiRequestError',
      code: 'FUL_ERR_LAB_API',
      message: 'GET /api/v1/namespaces/default/services/web: 404 services "web" not found',
      fulcrum: true,
    },
    {
      name: "an ApiStatusError's message is the Kubernetes Status message, verbatim",
      make: () => new ApiStatusError(404, 'NotFound', 'services "web" not found'),
      className: 'ApiStatusError',
      code: 'FUL_ERR_APISERVER_STATUS',
      message: 'services "web" not found',
      fulcrum: true,
    },
    {
      name: 'StopWaiting is a plain Error (a signal inside waitFor, which throws its reason) and keeps the reason as cause',
      make: () => new StopWaiting(cause),
      className: 'StopWaiting',
      message: 'stop waiting',
      cause,
      fulcrum: false,
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const err = row.make();
      assert.ok(err instanceof Error, 'instanceof Error');
      assert.equal(err instanceof FulcrumError, row.fulcrum, 'instanceof FulcrumError');
      assert.equal(err.name, row.className, 'name');
      assert.equal((err as { code?: unknown }).code, row.code, 'code');
      assert.equal(err.message, row.message, 'message');
      assert.equal(err.cause, row.cause, 'cause');
      assert.ok(err.stack?.startsWith(`${row.className}: `), `stack starts with the name: ${err.stack?.split('\n')[0]}`);
    });
  }

  it('every error class in the source has a row in this table', () => {
    const declared = new Set<string>();
    for (const file of sourceFiles()) {
      for (const m of file.lines.join('\n').matchAll(/\bclass\s+(\w+)(?:<[^>]*>)?\s+extends\s+(\w*Error)\b/g)) declared.add(m[1]!);
    }
    const tested = new Set(rows.map((r) => r.className));
    assert.deepEqual([...declared].filter((c) => !tested.has(c)).sort(), [], 'error classes without a row');
    assert.deepEqual([...tested].filter((c) => !declared.has(c)).sort(), [], 'rows of classes that no longer exist');
  });
});

describe('error registry: the source uses exactly the registered codes', () => {
  const files = sourceFiles();

  it('the scan reads the sources from the repository root', () => {
    assert.ok(files.some((f) => f.path === REGISTRY_FILE), `${REGISTRY_FILE} under ${ROOT}`);
    assert.ok(files.length > 50, `${files.length} .ts files`);
  });

  it('every FUL_ERR_/FUL_WARN_ code in the source, comments included, is registered', () => {
    const unknown: string[] = [];
    for (const file of files) {
      file.lines.forEach((line, i) => {
        for (const [code] of line.matchAll(CODE_LITERAL)) if (!Object.hasOwn(ERROR_CODES, code)) unknown.push(`${file.path}:${i + 1}: ${code}`);
      });
    }
    assert.deepEqual(unknown, [], 'codes missing from src/error-codes.ts');
  });

  it('every registered code is raised or reported somewhere (no dead codes)', () => {
    // A use is the code as a string literal outside the registry; members of a type union
    // (`| 'FUL_ERR_POOL_NAME'` in ConfigIssueCode) and mentions in comments do not count.
    const used = new Set<string>();
    for (const file of files) {
      if (file.path === REGISTRY_FILE) continue;
      for (const line of file.lines) {
        if (/^\s*\|/.test(line)) continue;
        for (const m of line.matchAll(/['"`](FUL_(?:ERR|WARN)_[A-Z0-9_]+)['"`]/g)) used.add(m[1]!);
      }
    }
    assert.deepEqual(CODES.filter((c) => !used.has(c)), [], 'registered codes used nowhere');
  });
});
