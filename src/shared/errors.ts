/**
 * Error codes shared by every module. The API maps each code to an HTTP status once
 * (api/error-handler.ts); workers read `retryable` to decide between DELAYED and ERROR.
 */
export type ErrorCode =
  | 'INVALID_PARAMETERS'
  | 'BAD_REQUEST'
  | 'UNAUTHORIZED'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'ALREADY_DONE'
  | 'CONFIG'
  | 'AUTH'
  | 'CHECKSUM'
  | 'UNSAFE_ARCHIVE'
  | 'TIMEOUT'
  | 'HOOK_FAILED'
  | 'NOT_IMPLEMENTED'
  | 'CANCELLED'
  | 'UNAVAILABLE'
  | 'INTERNAL';

export interface AppErrorOptions {
  /** Whether running the same step again may succeed. @defaultValue false */
  retryable?: boolean;
  /** The underlying error, kept for logs; never serialised to clients. */
  cause?: unknown;
  /** Structured details safe to show to clients (for example the list of bad parameters). */
  details?: Record<string, unknown>;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
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
