/**
 * The one table of error codes: the HTTP status the API answers with, and whether running the
 * same step again may succeed (the worker's choice between DELAYED and ERROR). No module decides
 * retryability on its own: it picks the code that says what happened.
 */
export const ERROR_CODES = {
  /** A plan started with bad, missing or unknown parameters (`details.problems`). */
  INVALID_PARAMETERS: { status: 400, retryable: false },
  BAD_REQUEST: { status: 400, retryable: false },
  UNAUTHORIZED: { status: 401, retryable: false },
  NOT_FOUND: { status: 404, retryable: false },
  /** Busy service, immutable snapshot, non-empty data dir under RESTORE_POLICY=safe. */
  CONFLICT: { status: 409, retryable: false },
  /** A service, plan, location or environment that cannot work as configured. */
  CONFIG: { status: 500, retryable: false },
  /** The storage refused the credentials. */
  AUTH: { status: 502, retryable: false },
  /** An object or manifest whose size or sha256 is not what was recorded: corrupt, truncated or replaced. */
  CHECKSUM: { status: 422, retryable: false },
  /** An archive entry that would escape or subvert the restore (`..`, absolute, through a symlink, a device). */
  UNSAFE_ARCHIVE: { status: 422, retryable: false },
  /** A file changed while it was read for a backup: another attempt may catch it at rest. */
  SOURCE_CHANGED: { status: 500, retryable: true },
  /** A storage request or a hook that took too long. */
  TIMEOUT: { status: 504, retryable: true },
  /** A hook that failed and declares `retryable: true` (the default). */
  HOOK_FAILED: { status: 500, retryable: true },
  /** A hook that failed and declares `retryable: false`. */
  HOOK_FAILED_FINAL: { status: 500, retryable: false },
  /** ENOSPC or EDQUOT: the disk is full, not the snapshot broken. */
  NO_SPACE: { status: 507, retryable: false },
  /** EACCES, EPERM, EROFS on the node's own files. */
  PERMISSION: { status: 500, retryable: false },
  NOT_IMPLEMENTED: { status: 501, retryable: false },
  /** Stopped or reset by an operator: never retried, never an error. */
  CANCELLED: { status: 409, retryable: false },
  /** Network errors, throttling, 5xx answers, an unreachable Redis. */
  UNAVAILABLE: { status: 503, retryable: true },
  /** The worker running the attempt died or lost its hold. */
  WORKER_LOST: { status: 500, retryable: true },
  /** Anything unexpected; retried, within the plan's attempts. */
  INTERNAL: { status: 500, retryable: true },
} as const satisfies Record<string, { status: number; retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface AppErrorOptions {
  /** The underlying error, kept for logs; never serialised to clients. */
  cause?: unknown;
  /** Structured details safe to show to clients (for example the list of bad parameters). */
  details?: Record<string, unknown>;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options.details;
  }

  /** From the table: whether another attempt may succeed. */
  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }

  /** From the table: the HTTP status of this error. */
  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/** A message for any thrown value, without stack traces. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

const SYSTEM_CODES: Record<string, { code: ErrorCode; says: string }> = {
  ENOSPC: { code: 'NO_SPACE', says: 'the disk is full' },
  EDQUOT: { code: 'NO_SPACE', says: 'the disk quota is used up' },
  EACCES: { code: 'PERMISSION', says: 'permission denied' },
  EPERM: { code: 'PERMISSION', says: 'operation not permitted' },
  EROFS: { code: 'PERMISSION', says: 'the filesystem is read-only' },
  EMFILE: { code: 'UNAVAILABLE', says: 'too many open files' },
  ENFILE: { code: 'UNAVAILABLE', says: 'too many open files' },
  EIO: { code: 'INTERNAL', says: 'an input/output error' },
  EFBIG: { code: 'NO_SPACE', says: 'a file is larger than the filesystem allows' },
};

/**
 * Turns an error from the node's own filesystem into an AppError that says what happened there:
 * a full disk is NO_SPACE, never a corrupt snapshot. AppErrors pass through unchanged.
 */
export function fromSystemError(error: unknown, doing: string): AppError {
  if (error instanceof AppError) return error;
  const e = error as NodeJS.ErrnoException;
  const known = e.code === undefined ? undefined : SYSTEM_CODES[e.code];
  const where = e.path === undefined ? '' : ` (${e.path})`;
  if (known !== undefined) return new AppError(known.code, `${doing}: ${known.says}${where}`, { cause: error });
  return new AppError('INTERNAL', `${doing}: ${errorMessage(error)}`, { cause: error });
}
