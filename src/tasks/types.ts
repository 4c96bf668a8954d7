import type { Progress, RunState, ServiceSpec } from '../engine/index.js';
import type { Logger } from '../shared/index.js';

/** How a task tells its worker how far it got; the worker publishes it at least once a second. */
export interface ProgressReporter {
  bytes(done: number, total?: number | null): void;
  message(text: string): void;
}

/** Everything a task may use. Tasks touch only their node's data and the storage it names. */
export interface TaskContext {
  run: RunState;
  service: ServiceSpec;
  stepName: string;
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
}

export interface TaskOutput {
  /** Shown as the step's message. */
  message: string;
  /** Kept with the step for later steps (commit-manifest reads the uploads'). */
  result?: unknown;
  /** Final byte counts, kept with the step. */
  progress?: Progress;
}

export type Task = (context: TaskContext) => Promise<TaskOutput>;
