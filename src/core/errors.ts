/**
 * Errors that a user can act on. Each names what is wrong and where (file, dataset key, field, shape).
 * The CLI prints `error: <message>` for these (a stack trace only with `--verbose`); anything else is a bug.
 */
export class DbmimError extends Error {
  constructor(
    message: string,
    /** A short machine-readable kind, e.g. `missing-file`, `bad-dtype`, `config`. */
    readonly code: string = 'error',
  ) {
    super(message);
    this.name = 'DbmimError';
  }
}

/** Bad input data: a file, a dataset, a shape, a dtype, a value. */
export class InputError extends DbmimError {
  constructor(message: string, code = 'input') {
    super(message, code);
    this.name = 'InputError';
  }
}

/** An invalid configuration field or CLI option. */
export class ConfigError extends DbmimError {
  constructor(message: string) {
    super(message, 'config');
    this.name = 'ConfigError';
  }
}

/** A checkpoint that does not match what is expected (names, shapes, dtypes, version). */
export class CheckpointError extends DbmimError {
  constructor(message: string) {
    super(message, 'checkpoint');
    this.name = 'CheckpointError';
  }
}

/** A requested tfjs backend that could not be loaded. */
export class BackendError extends DbmimError {
  constructor(message: string) {
    super(message, 'backend');
    this.name = 'BackendError';
  }
}

/** A broken exchange over the env protocol (bad frame, wrong version, a peer that went away). */
export class ProtocolError extends DbmimError {
  constructor(message: string, code = 'protocol') {
    super(message, code);
    this.name = 'ProtocolError';
  }
}
