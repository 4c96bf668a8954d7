import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { AppError } from '../shared/index.js';

/** Everything a process reads from its environment, validated once. */
export interface Config {
  redisUrl: string;
  host: string;
  port: number;
  servicesDir: string;
  plansDir: string;
  /** The service behind /v1/plans; null: the only one, if there is exactly one. */
  defaultService: string | null;
  apiToken: string | null;
  /** 32 bytes that seal secret parameters in Redis; null keeps them only while a run needs them. */
  secretKey: Buffer | null;
  queuePrefix: string;
  logLevel: string;
  /** How long a worker's hold on a step lasts without renewal: a dead agent's step is taken over after this. */
  workerLockMs: number;
  /** Runs kept per service in the history (DRPLAN_RUN_HISTORY). */
  runHistory: number;
  /** The CPU niceness `drplan agent` runs at (DRPLAN_AGENT_NICE): backups yield to the service and the control plane. */
  agentNice: number;
  /** gzip level of backups. */
  gzipLevel: number;
  /** zstd level of backups made with COMPRESSION=zstd. */
  zstdLevel: number;
  /** Blocks of a backup compressed at once. */
  gzipThreads: number;
  /** S3 multipart part size and parts in flight: an upload holds about size × (queue + 1) in memory. */
  s3PartSizeMb: number;
  s3QueueSize: number;
  /** Azure block size and blocks in flight: an upload holds about size × concurrency in memory. */
  azureBlockSizeMb: number;
  azureConcurrency: number;
  /** A storage request with no answer for this long fails (and is retried with the step). */
  storageTimeoutMs: number;
  /** A file modified less than this long before a backup reads it is left to settle first. */
  settleMs: number;
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Reads the environment; every problem is reported at once. Frozen. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): Readonly<Config> {
  const problems: string[] = [];
  const text = (name: string, fallback: string): string => {
    const value = env[name];
    return value === undefined || value === '' ? fallback : value;
  };
  const optional = (name: string): string | null => {
    const value = env[name];
    return value === undefined || value === '' ? null : value;
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got '${raw}'`);
      return fallback;
    }
    return value;
  };
  const dir = (name: string, fallback: string): string => {
    const value = text(name, fallback);
    return isAbsolute(value) ? value : resolve(cwd, value);
  };

  const redisUrl = text('REDIS_URL', 'redis://127.0.0.1:6379');
  if (!/^rediss?:\/\//.test(redisUrl)) {
    const shown = redisUrl.includes('@') ? `***@${redisUrl.split('@').pop() ?? ''}` : redisUrl;
    problems.push(`REDIS_URL must start with redis:// or rediss://, got '${shown}'`);
  }

  let secretKey: Buffer | null = null;
  const rawKey = optional('DRPLAN_SECRET_KEY');
  if (rawKey !== null) {
    const decoded = Buffer.from(rawKey, 'base64');
    if (decoded.length !== 32 || !/^[A-Za-z0-9+/]+={0,2}$/.test(rawKey.trim())) {
      problems.push(`DRPLAN_SECRET_KEY must be 32 bytes in base64 (openssl rand -base64 32); it decodes to ${decoded.length} bytes`);
    } else {
      secretKey = decoded;
    }
  }

  const logLevel = text('LOG_LEVEL', 'info');
  if (!LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LEVELS.join(', ')}, got '${logLevel}'`);

  const queuePrefix = text('DRPLAN_QUEUE_PREFIX', 'drplan');
  if (!/^[A-Za-z0-9_.-]+$/.test(queuePrefix)) problems.push(`DRPLAN_QUEUE_PREFIX may hold letters, digits, '_', '.', '-', got '${queuePrefix}'`);

  const defaultService = optional('DRPLAN_DEFAULT_SERVICE');
  const config: Config = {
    redisUrl,
    host: text('HOST', '127.0.0.1'),
    port: integer('PORT', 8080, 0, 65535),
    servicesDir: dir('DRPLAN_SERVICES_DIR', './services'),
    plansDir: dir('DRPLAN_PLANS_DIR', './plans'),
    defaultService,
    apiToken: optional('DRPLAN_API_TOKEN'),
    secretKey,
    queuePrefix,
    logLevel,
    workerLockMs: integer('DRPLAN_WORKER_LOCK_SECONDS', 30, 1, 3600) * 1000,
    runHistory: integer('DRPLAN_RUN_HISTORY', 100, 1, 100000),
    agentNice: integer('DRPLAN_AGENT_NICE', 10, 0, 19),
    gzipLevel: integer('DRPLAN_GZIP_LEVEL', 6, 1, 9),
    zstdLevel: integer('DRPLAN_ZSTD_LEVEL', 3, 1, 19),
    gzipThreads: integer('DRPLAN_GZIP_THREADS', Math.min(4, Math.max(2, availableParallelism())), 1, 64),
    s3PartSizeMb: integer('DRPLAN_S3_PART_SIZE_MB', 5, 5, 5120),
    s3QueueSize: integer('DRPLAN_S3_QUEUE_SIZE', 4, 1, 64),
    azureBlockSizeMb: integer('DRPLAN_AZURE_BLOCK_SIZE_MB', 4, 1, 4000),
    azureConcurrency: integer('DRPLAN_AZURE_CONCURRENCY', 4, 1, 64),
    storageTimeoutMs: integer('DRPLAN_STORAGE_TIMEOUT_SECONDS', 60, 1, 3600) * 1000,
    settleMs: integer('DRPLAN_SETTLE_MS', 100, 0, 60_000),
  };
  if (problems.length > 0) {
    throw new AppError('CONFIG', `invalid environment:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  return Object.freeze(config);
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** An API listening beyond loopback must require a token. */
export function assertSafeListen(config: Pick<Config, 'host' | 'apiToken'>): void {
  if (!isLoopback(config.host) && config.apiToken === null) {
    throw new AppError(
      'CONFIG',
      `refusing to listen on ${config.host} without DRPLAN_API_TOKEN: anyone who can reach it could start and stop plans. Set DRPLAN_API_TOKEN, or listen on 127.0.0.1`,
    );
  }
}
