/**
 * One base class for every error Fulcrum raises on purpose. `code` is stable (FUL_ERR_*), so
 * callers, tests and metrics match on it, never on the message text.
 */
export class FulcrumError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FulcrumError';
    this.code = code;
  }
}

/** Bad command line: the CLI prints the message and the command's usage, then exits 2. */
export class UsageError extends FulcrumError {
  constructor(message: string) {
    super('FUL_ERR_USAGE', message);
    this.name = 'UsageError';
  }
}

/** A reconcile error that retrying cannot fix (bad input, not a transient failure). */
export class TerminalError extends FulcrumError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'TerminalError';
  }
}

/** The message of anything thrown, without a stack: for one-line reports to users. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
