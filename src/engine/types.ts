/** Step statuses that are stored. Parents aggregate to these plus WAITING and IN_PROGRESS. */
export type StepStatus = 'PENDING' | 'STARTING' | 'STARTED' | 'COMPLETE' | 'DELAYED' | 'ERROR';
export type Status = StepStatus | 'WAITING' | 'IN_PROGRESS';
export type Strategy = 'serial' | 'parallel';

export const STRATEGIES: readonly Strategy[] = ['serial', 'parallel'];

/** A declared plan parameter, after defaults are applied. */
export interface ParameterSpec {
  required: boolean;
  secret: boolean;
  default?: string;
  enum?: string[];
  pattern?: string;
  description?: string;
}

export interface PhaseSpec {
  name: string;
  /** `serial`, `parallel` or a `{{PARAM}}` template resolved when a run starts. */
  strategy: string;
  /** The pod whose instances each get a step, `*` for every pod; absent: one service-wide step. */
  pod?: string;
  task: string;
  /**
   * Only these instances of the pod: a comma list of `<index>` (that instance of every pod the
   * phase walks) or `<pod>-<index>`, `{{PARAM}}` allowed; empty or absent: every instance.
   */
  nodes?: string;
  /** Skip the phase for services that do not declare the hook it runs. */
  optional: boolean;
  /** Runs after the other phases finish, even when they ended in ERROR (cleanup). */
  finally: boolean;
  /** Line in the plan file, for messages. */
  line?: number;
}

export interface RetrySpec {
  /** Attempts per step, the first included. */
  attempts: number;
  /** Delay before the second attempt; doubled for each later one. */
  backoffSeconds: number;
  maxBackoffSeconds: number;
}

export interface PlanSpec {
  name: string;
  description: string;
  parameters: Record<string, ParameterSpec>;
  /** Groups of parameters of which at least one group must be given in full. */
  requireOneOf: string[][];
  strategy: string;
  retry: RetrySpec;
  phases: PhaseSpec[];
  /** Where the plan was read from, for messages. */
  file: string;
}

export interface HookSpec {
  /** Run with /bin/sh -c when a string, executed directly when a list. */
  command: string | string[];
  timeoutSeconds: number;
  /** Whether a failing run is retried. */
  retryable: boolean;
}

/** How the snapshot step makes a point-in-time view of a node's data dir before it is uploaded. */
export const SNAPSHOT_MODES = ['hardlink', 'reflink', 'copy', 'none'] as const;
export type SnapshotMode = (typeof SNAPSHOT_MODES)[number];

export interface PodSpec {
  count: number;
  /** Absolute path; `{{POD_INDEX}}` is replaced per instance. */
  dataDir: string;
  snapshot: SnapshotMode;
}

/**
 * A named place for a service's snapshots (the YAML's `locations:`): where, never a secret. The
 * credentials come from the environment of the process that runs a step: the variables named in
 * `credentialsEnv` (by the plan parameter each one stands for), or the storage SDK's own default
 * chain when there are none.
 */
export interface LocationSpec {
  name: string;
  /** The kind of storage (a storage driver's name). */
  storage: string;
  /** The bucket, the container, or the directory. */
  container: string;
  /** Key prefix, without slashes at either end; '' for none. */
  prefix: string;
  endpoint: string | null;
  /** The region, for storage that has them. */
  region?: string;
  /** The storage account, for storage that has them. */
  account?: string;
  /** Plan parameter (an access key's, a shared key's) → the environment variable that holds it. */
  credentialsEnv: Record<string, string>;
  /** Line in the service file, for messages. */
  line?: number;
}

export interface ServiceSpec {
  name: string;
  pods: Record<string, PodSpec>;
  hooks: Record<string, HookSpec>;
  /** Named locations, in the order the YAML declares them. */
  locations: Record<string, LocationSpec>;
  file: string;
  /** Directory of the service file: relative paths and hook commands resolve against it. */
  dir: string;
}

export interface Progress {
  bytesDone: number;
  bytesTotal: number | null;
  /** Bytes per second over the last few seconds. */
  rate?: number;
  /** Seconds left at the current rate. */
  eta?: number;
}

export interface StepState {
  id: string;
  name: string;
  task: string;
  pod: string | null;
  podIndex: number | null;
  status: StepStatus;
  /** Bumped whenever the step is reset; a worker holding an older generation is stale. */
  gen: number;
  /** Attempts dispatched in this generation. */
  attempts: number;
  /** Attempts of this generation whose worker died or lost its hold (each counts as an attempt). */
  lost?: number;
  /** The worker executing the current attempt. */
  owner: string | null;
  message: string;
  startedAt: number | null;
  finishedAt: number | null;
  /** When a DELAYED step may run again. */
  retryAt: number | null;
  progress: Progress | null;
  /** What the task returned; later steps of the run may read it. */
  result: unknown;
}

export interface PhaseState {
  id: string;
  name: string;
  strategy: Strategy;
  task: string;
  finally: boolean;
  interrupted: boolean;
  steps: StepState[];
}

export interface RunState {
  id: string;
  plan: string;
  service: string;
  strategy: Strategy;
  interrupted: boolean;
  /** Set by stop: the run holds no lock and does nothing until continued or restarted. */
  stopped: boolean;
  /** Every non-secret parameter, defaults included. */
  parameters: Record<string, string>;
  /** Secret parameters that were given (their values live elsewhere, sealed). */
  secretNames: string[];
  retry: RetrySpec;
  createdAt: number;
  finishedAt: number | null;
  phases: PhaseState[];
  /** The snapshot the run committed, kept when the run is stopped or restarted afterwards. */
  snapshot?: string | null;
  /** The last stop: when, and who asked (the client as the API saw it). */
  stoppedAt?: number | null;
  stoppedBy?: string | null;
}

/** Identifies one attempt of one step: what a job carries and what a worker must hold. */
export interface AttemptRef {
  runId: string;
  stepId: string;
  gen: number;
  attempt: number;
}

/** A committed snapshot, as the catalogue lists it. */
export interface SnapshotRecord {
  name: string;
  service: string;
  plan: string;
  runId: string;
  /** The kind of storage the snapshot is in. */
  storage: string;
  /** The bucket or container. */
  location: string;
  /** The key prefix in it, '' for none. */
  prefix?: string;
  /** The storage endpoint, null for the cloud's own. */
  endpoint?: string | null;
  /** The region, for storage that has them. */
  region?: string;
  /** The storage account, for storage that has them. */
  account?: string;
  /** The service's name for the location (`LOCATION`), when the backup named one. */
  locationName?: string;
  /** The plan parameters that name the location again (bucket, region, endpoint, prefix): no secret. */
  locationParameters?: Record<string, string>;
  /** ISO time the manifest was written. */
  created: string;
  bytes: number;
  nodes: number;
  pods?: Array<{ name: string; count: number }>;
  /** `full` or `incremental`. */
  type?: string;
  parent?: string | null;
}
