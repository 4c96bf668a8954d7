import { formatDuration } from '../shared/index.js';
import { isInFlight, phaseCandidates, phaseHasErrors, planCandidates } from './status.js';
import type { AttemptRef, Progress, RunState, StepState } from './types.js';

/** Outcome of a step transition: the new run, or why the caller's view was stale. */
export type Transition = { ok: true; run: RunState; step: StepState } | { ok: false; reason: string };

export function findStepById(run: RunState, stepId: string): StepState | undefined {
  for (const phase of run.phases) {
    const step = phase.steps.find((s) => s.id === stepId);
    if (step !== undefined) return step;
  }
  return undefined;
}

const isDue = (step: StepState, now: number): boolean =>
  step.status === 'PENDING' || (step.status === 'DELAYED' && (step.retryAt ?? 0) <= now);

/**
 * Steps to hand to workers now: candidates of candidate phases that are pending or due for a
 * retry. A step already retrying finishes its attempts even after a sibling failed for good.
 */
export function dueSteps(run: RunState, now: number): StepState[] {
  if (run.interrupted || run.stopped) return [];
  const candidates = new Set(planCandidates(run).filter((phase) => !phase.interrupted));
  const retries = run.phases
    .filter((phase) => !candidates.has(phase) && !phase.interrupted && phaseHasErrors(phase))
    .flatMap((phase) => phase.steps.filter((step) => step.status === 'DELAYED' && isDue(step, now)));
  return [...[...candidates].flatMap((phase) => phaseCandidates(phase).filter((step) => isDue(step, now))), ...retries];
}

/** The earliest time a DELAYED step becomes due, if any. */
export function nextRetryAt(run: RunState): number | null {
  const times = run.phases.flatMap((p) => p.steps).flatMap((s) => (s.status === 'DELAYED' && s.retryAt !== null ? [s.retryAt] : []));
  return times.length === 0 ? null : Math.min(...times);
}

function edit(run: RunState, ref: AttemptRef, check: (step: StepState) => string | null, apply: (step: StepState, run: RunState) => void): Transition {
  const next = structuredClone(run);
  const step = findStepById(next, ref.stepId);
  if (step === undefined) return { ok: false, reason: `step ${ref.stepId} is not in run ${run.id}` };
  if (step.gen !== ref.gen || step.attempts !== ref.attempt) {
    return { ok: false, reason: `attempt ${ref.gen}.${ref.attempt} of ${step.name} is stale (now ${step.gen}.${step.attempts})` };
  }
  const problem = check(step);
  if (problem !== null) return { ok: false, reason: problem };
  apply(step, next);
  return { ok: true, run: next, step };
}

/** PENDING or due DELAYED → STARTING: a new attempt, to be queued. */
export function dispatchStep(run: RunState, stepId: string, now: number): Transition {
  const step = findStepById(run, stepId);
  if (step === undefined || !dueSteps(run, now).some((s) => s.id === stepId)) {
    return { ok: false, reason: `step ${stepId} is not due` };
  }
  const next = structuredClone(run);
  const target = findStepById(next, stepId) as StepState;
  queue(target, run.retry.attempts);
  return { ok: true, run: next, step: target };
}

function queue(step: StepState, attempts: number): void {
  step.status = 'STARTING';
  step.attempts += 1;
  step.owner = null;
  step.retryAt = null;
  step.message = step.attempts === 1 ? 'queued' : `queued for attempt ${step.attempts} of ${attempts}`;
}

/** Every due step → STARTING in one change: the new run and the steps to queue (none: null). */
export function dispatchDue(run: RunState, now: number): { run: RunState; steps: StepState[] } | null {
  const due = new Set(dueSteps(run, now).map((step) => step.id));
  if (due.size === 0) return null;
  const next = structuredClone(run);
  const steps: StepState[] = [];
  for (const step of next.phases.flatMap((phase) => phase.steps)) {
    if (!due.has(step.id)) continue;
    queue(step, run.retry.attempts);
    steps.push(step);
  }
  return { run: next, steps };
}

const lostNote = (step: StepState): string => {
  const lost = step.lost ?? 0;
  return lost === 0 ? '' : ` (attempt ${step.attempts}: resumed after its worker was lost${lost > 1 ? ` ${lost} times` : ''})`;
};

/** The attempt's worker died: it counts as a failed attempt, retried at once while attempts are left. */
function loseAttempt(run: RunState, step: StepState, now: number): void {
  step.owner = null;
  step.lost = (step.lost ?? 0) + 1;
  if (step.attempts < run.retry.attempts) {
    step.status = 'DELAYED';
    step.retryAt = now;
    step.message = `attempt ${step.attempts} of ${run.retry.attempts} was lost with its worker; running it again`;
  } else {
    step.status = 'ERROR';
    step.finishedAt = now;
    step.message = `${step.attempts > 1 ? `failed after ${step.attempts} attempts` : 'failed'}: the worker running attempt ${step.attempts} was lost`;
  }
}

/**
 * A worker takes an attempt: STARTING → STARTED. The queue hands a STARTED attempt out again
 * only once the worker that held it stopped renewing its lock (it died or hung): then the attempt
 * is recorded as lost (DELAYED for an immediate retry, or ERROR when it was the last), and the
 * returned step is not STARTED, so the caller must not run it.
 */
export function claimStep(run: RunState, ref: AttemptRef, owner: string, now: number): Transition {
  return edit(
    run,
    ref,
    (step) => (isInFlight(step) ? null : `${step.name} is ${step.status}, not waiting for a worker`),
    (step) => {
      if (step.status === 'STARTED') {
        loseAttempt(run, step, now);
        return;
      }
      step.message = (step.lost ?? 0) > 0 ? `running attempt ${step.attempts} of ${run.retry.attempts}, after a worker was lost` : 'running';
      step.status = 'STARTED';
      step.owner = owner;
      step.startedAt = now;
      step.finishedAt = null;
      step.progress = null;
    },
  );
}

export interface StepOutcome {
  message: string;
  progress?: Progress | null;
  result?: unknown;
  /** A snapshot the step committed: the run keeps its name, whatever happens to the step later. */
  snapshot?: string;
}

/** The owner reports success: STARTED → COMPLETE. */
export function completeStep(run: RunState, ref: AttemptRef, owner: string, outcome: StepOutcome, now: number): Transition {
  return edit(
    run,
    ref,
    (step) => (step.status === 'STARTED' && step.owner === owner ? null : `${step.name} is not held by this worker`),
    (step, next) => {
      step.status = 'COMPLETE';
      step.owner = null;
      step.finishedAt = now;
      step.message = `${outcome.message}${lostNote(step)}`;
      step.progress = outcome.progress ?? step.progress;
      step.result = outcome.result ?? null;
      if (outcome.snapshot !== undefined) next.snapshot = outcome.snapshot;
    },
  );
}

export interface StepFailure {
  message: string;
  retryable: boolean;
  progress?: Progress | null;
  /** The attempt was lost with its worker (a job that stalled too often): counted in `lost`. */
  lost?: boolean;
}

/** Delay before attempt `attempt + 1`: the backoff doubles per attempt, up to the maximum. */
export function backoffMs(run: RunState, attempt: number): number {
  const seconds = Math.min(run.retry.maxBackoffSeconds, run.retry.backoffSeconds * 2 ** Math.max(0, attempt - 1));
  return Math.round(seconds * 1000);
}

/**
 * An attempt failed. Retryable failures with attempts left → DELAYED until the backoff passes;
 * otherwise ERROR with the reason. `owner` null: reported by a coordinator for a lost job.
 */
export function failStep(run: RunState, ref: AttemptRef, owner: string | null, failure: StepFailure, now: number): Transition {
  return edit(
    run,
    ref,
    (step) => {
      if (!isInFlight(step)) return `${step.name} is ${step.status}, not running`;
      return owner === null || step.owner === owner ? null : `${step.name} is not held by this worker`;
    },
    (step) => {
      step.owner = null;
      step.progress = failure.progress ?? step.progress;
      if (failure.lost === true) step.lost = (step.lost ?? 0) + 1;
      if (failure.retryable && step.attempts < run.retry.attempts) {
        const delay = backoffMs(run, step.attempts);
        step.status = 'DELAYED';
        step.retryAt = now + delay;
        step.message = `attempt ${step.attempts} of ${run.retry.attempts} failed, retrying in ${formatDuration(delay / 1000)}: ${failure.message}`;
      } else {
        step.status = 'ERROR';
        step.finishedAt = now;
        step.message =
          failure.retryable && step.attempts > 1 ? `failed after ${step.attempts} attempts: ${failure.message}` : failure.message;
      }
    },
  );
}

/** The owner hands an attempt back unfinished (its agent is shutting down): STARTED → STARTING. */
export function releaseStep(run: RunState, ref: AttemptRef, owner: string, message: string): Transition {
  return edit(
    run,
    ref,
    (step) => (step.status === 'STARTED' && step.owner === owner ? null : `${step.name} is not held by this worker`),
    (step) => {
      step.status = 'STARTING';
      step.owner = null;
      step.message = message;
    },
  );
}
