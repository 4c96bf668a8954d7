import type { Progress, RunState, ServiceSpec, SnapshotRecord } from '../engine/index.js';
import { DEFAULT_TRANSFER_SETTINGS, type TransferSettings } from '../storage/index.js';
import type { Logger } from '../shared/index.js';

/** How a task tells its worker how far it got; the worker publishes it at least once a second. */
export interface ProgressReporter {
  bytes(done: number, total?: number | null): void;
  message(text: string): void;
}

/** Agent-level tuning (environment, not plan parameters). */
export interface TaskSettings {
  /** gzip level of backups, 1 (fast) to 9 (small). */
  gzipLevel: number;
  /** zstd level of backups made with COMPRESSION=zstd, 1 (fast) to 19 (small). */
  zstdLevel: number;
  /** Blocks of a backup compressed at once (either compression). */
  gzipThreads: number;
  transfer: TransferSettings;
  /**
   * A file modified less than this long before a backup reads it is left to settle first: one
   * long write moves mtime only when it starts.
   */
  settleMs: number;
  /** What hooks inherit from the agent's environment (PATH, HOME, locale): see `inheritedEnvironment`. */
  hookEnv: Readonly<Record<string, string>>;
  /** The agent's environment, where a location's credential variables are read. */
  environment: Readonly<Record<string, string | undefined>>;
}

export const DEFAULT_TASK_SETTINGS: TaskSettings = {
  gzipLevel: 6,
  zstdLevel: 3,
  gzipThreads: 2,
  transfer: DEFAULT_TRANSFER_SETTINGS,
  settleMs: 100,
  hookEnv: { PATH: '/usr/local/bin:/usr/bin:/bin' },
  environment: {},
};

/** Everything a task may use. Tasks touch only their node's data and the storage it names. */
export interface TaskContext {
  /** The run, without its steps' state (read at the claim: its id, plan, parameters). */
  run: Omit<RunState, 'phases'>;
  /** The whole run as it is now, with every step's state and result (a commit reads the uploads'). */
  loadRun(): Promise<RunState>;
  service: ServiceSpec;
  stepName: string;
  /** The step's generation: bumped whenever the step is reset or restarted. */
  stepGen: number;
  pod: string | null;
  podIndex: number | null;
  /** The pod instance's data directory; null for service-wide steps. */
  dataDir: string | null;
  /** Non-secret parameters, defaults included. */
  parameters: Record<string, string>;
  /** The run's secret parameters, read when a task needs them. */
  secrets(): Promise<Record<string, string>>;
  signal: AbortSignal;
  progress: ProgressReporter;
  logger: Logger;
  settings: TaskSettings;
}

export interface TaskOutput {
  /** Shown as the step's message. */
  message: string;
  /** Kept with the step for later steps (commit-manifest reads the uploads'). */
  result?: unknown;
  /** Final byte counts, kept with the step. */
  progress?: Progress;
  /** A snapshot this step committed, for the catalogue. */
  catalog?: SnapshotRecord;
  /** Its manifest, kept with the catalogue entry (the catalogue is a cache of the manifests). */
  manifest?: unknown;
}

export type Task = (context: TaskContext) => Promise<TaskOutput>;
