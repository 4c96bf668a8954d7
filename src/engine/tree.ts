import { REDACTED } from '../shared/index.js';
import { isActive, phaseStatus, planErrors, planStatus } from './status.js';
import type { Progress, RunState, Status, Strategy } from './types.js';

/** What a worker last reported for a running step (kept apart from the run, written often). */
export interface LiveProgress {
  message: string;
  /** Null for tasks that do not move bytes. */
  progress: Progress | null;
  /** When it was written (ms). */
  at: number;
}

export interface StepTree {
  id: string;
  name: string;
  status: Status;
  attempts: number;
  message: string;
  progress: Progress | null;
  startedAt: number | null;
  finishedAt: number | null;
  retryAt: number | null;
}

export interface PhaseTree {
  id: string;
  name: string;
  status: Status;
  strategy: Strategy;
  steps: StepTree[];
}

export interface PlanTree {
  name: string;
  service: string;
  runId: string | null;
  status: Status;
  /** Whether the run has work left: steps running, due or waiting on a resume. False once it ended or was stopped. */
  active: boolean;
  /** Whether the plan itself is paused (an interrupt without a phase); a paused phase shows in its own status. */
  interrupted: boolean;
  strategy: Strategy;
  parameters: Record<string, string>;
  startedAt: number | null;
  finishedAt: number | null;
  errors: string[];
  progress: { bytesDone: number; bytesTotal: number | null };
  phases: PhaseTree[];
  /** Why this run cannot run again (restart, resume after a stop), or null when it can. */
  rerunBlocked?: string | null;
  /** The snapshot the run committed (also after a stop that came later), or null. */
  snapshot: string | null;
  /** The last stop of the run: when, and who asked. */
  stoppedAt: number | null;
  stoppedBy: string | null;
}

/**
 * The plan as clients see it: aggregated statuses, live progress merged into running steps,
 * secret parameters masked. `runId` null renders a plan that was never run.
 */
export function planTree(run: RunState, live: Record<string, LiveProgress>, runId: string | null = run.id): PlanTree {
  // Parent first, then children: a torn read shows a parent behind its children, never ahead.
  const status = planStatus(run);
  const phases = run.phases.map((phase): PhaseTree => {
    const phaseState = phaseStatus(phase);
    return {
      id: phase.id,
      name: phase.name,
      status: phaseState,
      strategy: phase.strategy,
      steps: phase.steps.map((step): StepTree => {
        const current = step.status === 'STARTED' ? live[step.id] : undefined;
        const progress = current === undefined ? step.progress : current.progress;
        return {
          id: step.id,
          name: step.name,
          status: step.status,
          attempts: step.attempts,
          message: current?.message ?? step.message,
          progress,
          startedAt: step.startedAt,
          finishedAt: step.finishedAt,
          retryAt: step.retryAt,
        };
      }),
    };
  });
  let bytesDone = 0;
  let bytesTotal: number | null = null;
  for (const step of phases.flatMap((p) => p.steps)) {
    if (step.progress === null) continue;
    bytesDone += step.progress.bytesDone;
    if (step.progress.bytesTotal !== null) bytesTotal = (bytesTotal ?? 0) + step.progress.bytesTotal;
  }
  return {
    name: run.plan,
    service: run.service,
    runId,
    status,
    active: runId !== null && isActive(run),
    interrupted: runId !== null && run.interrupted,
    strategy: run.strategy,
    parameters: maskedParameters(run),
    startedAt: runId === null ? null : run.createdAt,
    finishedAt: run.finishedAt,
    errors: planErrors(run),
    progress: { bytesDone, bytesTotal },
    phases,
    snapshot: run.snapshot ?? null,
    stoppedAt: run.stoppedAt ?? null,
    stoppedBy: run.stoppedBy ?? null,
  };
}

/** The run's parameters as clients may see them: secret ones present but masked. */
export function maskedParameters(run: Pick<RunState, 'parameters' | 'secretNames'>): Record<string, string> {
  const parameters: Record<string, string> = { ...run.parameters };
  for (const name of run.secretNames) parameters[name] = REDACTED;
  return parameters;
}
