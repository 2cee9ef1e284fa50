/**
 * Errors Fulcrum raises on purpose, and the registry of their codes (./error-codes.ts).
 *
 * Every error has a stable `code` (FUL_ERR_*), so callers, tests and metrics match on it, never
 * on the message text. The message is rendered from the code's template in ERROR_CODES, which
 * names the field and the value received:
 *
 *   throw new FulcrumError('FUL_ERR_VIP_ADD', { ip, device: VIP_DEVICE, reason: errorMessage(err) }, { cause: err });
 *   // → adding service address 192.0.2.10 to "lo": RTNETLINK answers: Operation not permitted
 *
 * Config problems use the same codes and templates without throwing: IssueList.error(code, params)
 * in src/config/issues.ts collects them, so the user sees every problem at once.
 *
 * Adding a code:
 * 1. Add `FUL_ERR_<AREA>_<WHAT>: { template, summary }` to ERROR_CODES, in the group of its area.
 *    The template names the field and the value (`'pool "{pool}" range "{range}": {reason}'`);
 *    parameters are `{name}` (letters, digits, `_`), and `reason` carries an underlying message.
 *    FUL_WARN_* codes are config warnings: they are reported, never thrown.
 * 2. Throw it: `new FulcrumError(code, params, { cause })` (or TerminalError in a reconcile that
 *    retrying cannot fix). The compiler checks that `params` has exactly the template's names.
 * 3. test/unit/errors.test.ts renders every code and fails on a code used in the source but not
 *    registered, or registered but used nowhere.
 */
import { ERROR_CODES, type ErrorCode, type ErrorParams } from './error-codes.js';

export { ERROR_CODES, type ErrorCode, type ErrorCodeSpec, type ErrorParams, type ErrorParamValue } from './error-codes.js';

/** The message of `code` with its parameters filled in. */
export function renderMessage<C extends ErrorCode>(code: C, params: ErrorParams<C>): string {
  const values = params as Readonly<Record<string, string | number>>;
  return ERROR_CODES[code].template.replace(/\{(\w+)\}/g, (whole, name: string) => (Object.hasOwn(values, name) ? String(values[name]) : whole));
}

/** One base class for every error Fulcrum raises on purpose; the message comes from the registry. */
export class FulcrumError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: ErrorCode;
  constructor(code: C, params: ErrorParams<C>, options?: { cause?: unknown }) {
    super(renderMessage(code, params), options);
    this.name = 'FulcrumError';
    this.code = code;
  }
}

/** Bad command line: the CLI prints the message and the command's usage, then exits 2. */
export class UsageError extends FulcrumError<'FUL_ERR_USAGE'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FUL_ERR_USAGE', { message }, options);
    this.name = 'UsageError';
  }
}

/** A reconcile error that retrying cannot fix (bad input, not a transient failure). */
export class TerminalError<C extends ErrorCode = ErrorCode> extends FulcrumError<C> {
  constructor(code: C, params: ErrorParams<C>, options?: { cause?: unknown }) {
    super(code, params, options);
    this.name = 'TerminalError';
  }
}

/** The message of anything thrown, without a stack: for one-line reports to users. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
