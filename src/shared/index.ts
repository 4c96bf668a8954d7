export { AppError, ERROR_CODES, isAppError, errorMessage, fromSystemError, type ErrorCode, type AppErrorOptions } from './errors.js';
export { createLogger, redactPaths, KNOWN_SECRET_NAMES, REDACTED, type Logger, type LoggerOptions } from './logger.js';
export { createSecretBox, type SecretBox } from './secret-box.js';
export { formatBytes, formatDuration, own } from './format.js';
export { forEachLimit } from './concurrency.js';
