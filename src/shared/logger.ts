import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Parameter names that are always treated as secret, whatever a plan declares. */
export const KNOWN_SECRET_NAMES: readonly string[] = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AZURE_STORAGE_KEY',
  'CLIENT_SECRET',
  'DRPLAN_API_TOKEN',
  'DRPLAN_SECRET_KEY',
  'password',
  'secret',
  'token',
];

export interface LoggerOptions {
  /** pino level. @defaultValue 'info' */
  level?: string;
  /** Extra key names to censor wherever they appear up to three levels deep. */
  secretNames?: readonly string[];
  /** Where lines go. @defaultValue stdout */
  destination?: DestinationStream;
}

export const REDACTED = '******';

/** Paths for pino's `redact`: request credentials plus every secret name at any of the first levels. */
export function redactPaths(secretNames: readonly string[]): string[] {
  const names = [...new Set([...KNOWN_SECRET_NAMES, ...secretNames])];
  const paths = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'];
  for (const name of names) {
    const key = /^[A-Za-z_$][\w$]*$/.test(name) ? name : `["${name}"]`;
    const dot = key.startsWith('[') ? '' : '.';
    paths.push(key, `*${dot}${key}`, `*.*${dot}${key}`);
  }
  return paths;
}

/** The root logger of a process. Modules take child loggers with bindings such as `{ runId, step }`. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const config = {
    level: options.level ?? 'info',
    base: { pid: process.pid },
    redact: { paths: redactPaths(options.secretNames ?? []), censor: REDACTED },
  };
  return options.destination === undefined ? pino(config) : pino(config, options.destination);
}
