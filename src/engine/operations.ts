import { AppError } from '../shared/index.js';
import { phaseComplete, phaseStatus, planStatus } from './status.js';
import type { PhaseState, RunState, StepState } from './types.js';

/** What an operation did: `changed: false` is DC/OS's 208 (already done, nothing to do). */
export interface OperationResult {
  changed: boolean;
  run: RunState;
  message: string;
}

export interface Target {
  /** Phase name or id. */
  phase?: string | undefined;
  /** Step name or id; needs a phase. */
  step?: string | undefined;
}

export function findPhase(run: RunState, ref: string): PhaseState {
  const phase = run.phases.find((p) => p.id === ref) ?? run.phases.find((p) => p.name === ref);
  if (phase === undefined) throw new AppError('NOT_FOUND', `Phase ${ref} not found in plan ${run.plan}`);
  return phase;
}

export function findStep(phase: PhaseState, ref: string): StepState {
  const byId = phase.steps.find((s) => s.id === ref);
  if (byId !== undefined) return byId;
  const byName = phase.steps.filter((s) => s.name === ref);
  if (byName.length > 1) throw new AppError('BAD_REQUEST', `Step name ${ref} matches ${byName.length} steps in phase ${phase.name}`);
  const [step] = byName;
  if (step === undefined) throw new AppError('NOT_FOUND', `Step ${ref} not found in phase ${phase.name}`);
  return step;
}

function resolve(run: RunState, target: Target): { phase?: PhaseState; step?: StepState } {
  if (target.step !== undefined && target.phase === undefined) throw new AppError('BAD_REQUEST', 'Missing phase');
  if (target.phase === undefined) return {};
  const phase = findPhase(run, target.phase);
  return target.step === undefined ? { phase } : { phase, step: findStep(phase, target.step) };
}

function describe(run: RunState, target: Target): string {
  if (target.step !== undefined) return `step ${target.step} in phase ${target.phase ?? ''} of plan ${run.plan}`;
  if (target.phase !== undefined) return `phase ${target.phase} of plan ${run.plan}`;
  return `plan ${run.plan}`;
}

/** Back to PENDING in a new generation: a worker still running the old one is cancelled. */
export function resetStep(step: StepState): void {
  step.gen += 1;
  step.status = 'PENDING';
  step.attempts = 0;
  step.lost = 0;
  step.owner = null;
  step.message = '';
  step.startedAt = null;
  step.finishedAt = null;
  step.retryAt = null;
  step.progress = null;
  step.result = null;
}

function forceStep(step: StepState, now: number): void {
  if (step.status === 'COMPLETE') return;
  step.gen += 1;
  step.status = 'COMPLETE';
  step.owner = null;
  step.retryAt = null;
  step.finishedAt = now;
  step.message = 'forced to complete by an operator';
}

const allSteps = (run: RunState): StepState[] => run.phases.flatMap((p) => p.steps);

/** Interrupt and reset everything to PENDING, cancelling running steps. Always "changed", as in DC/OS. */
export function stopRun(run: RunState, stop: { at?: number; by?: string } = {}): OperationResult {
  const next = structuredClone(run);
  next.interrupted = true;
  next.stopped = true;
  if (stop.at !== undefined) next.stoppedAt = stop.at;
  if (stop.by !== undefined) next.stoppedBy = stop.by;
  for (const phase of next.phases) phase.interrupted = false;
  for (const step of allSteps(next)) resetStep(step);
  // A stop after the commit resets the steps, never the snapshot: it exists, and stays.
  const kept = typeof run.snapshot === 'string' ? `; snapshot ${run.snapshot} was already committed and stays` : '';
  return { changed: true, run: next, message: `Received cmd: stop for plan ${run.plan}${kept}` };
}

/** Pause the plan or one phase: running steps finish, no new ones start. */
export function interruptRun(run: RunState, target: Target): OperationResult {
  const next = structuredClone(run);
  const { phase } = resolve(next, { phase: target.phase });
  if (phase === undefined) {
    if (next.interrupted || planStatus(next) === 'COMPLETE') return { changed: false, run, message: `plan ${run.plan} is already paused or complete` };
    next.interrupted = true;
  } else {
    if (phase.interrupted || phaseComplete(phase)) return { changed: false, run, message: `phase ${phase.name} is already paused or complete` };
    phase.interrupted = true;
  }
  return { changed: true, run: next, message: `Received cmd: interrupt for ${describe(run, target)}` };
}

/** Resume the plan or one phase. Continuing a stopped plan starts it over. */
export function continueRun(run: RunState, target: Target): OperationResult {
  const next = structuredClone(run);
  const { phase } = resolve(next, { phase: target.phase });
  if (phase === undefined) {
    if (!next.interrupted || planStatus(next) === 'COMPLETE') return { changed: false, run, message: `plan ${run.plan} is not paused` };
    next.interrupted = false;
    next.stopped = false;
  } else {
    if (!phase.interrupted || phaseComplete(phase)) return { changed: false, run, message: `phase ${phase.name} is not paused` };
    phase.interrupted = false;
  }
  return { changed: true, run: next, message: `Received cmd: continue for ${describe(run, target)}` };
}

/**
 * Reset the plan, a phase or a step to PENDING and run it again with the stored parameters.
 * The `finally` phases are reset too: cleanup must follow the work it cleans up after.
 */
export function restartRun(run: RunState, target: Target): OperationResult {
  const next = structuredClone(run);
  const { phase, step } = resolve(next, target);
  const steps = step !== undefined ? [step] : phase !== undefined ? phase.steps : allSteps(next);
  const interruptedTarget = phase === undefined ? next.interrupted : step === undefined && phase.interrupted;
  if (steps.every((s) => s.status === 'PENDING') && !interruptedTarget) {
    return { changed: false, run, message: `${describe(run, target)} is already pending` };
  }
  for (const s of steps) resetStep(s);
  if (phase === undefined) {
    next.interrupted = false;
    next.stopped = false;
    for (const p of next.phases) p.interrupted = false;
  } else if (step === undefined) {
    phase.interrupted = false;
  }
  for (const p of next.phases) {
    if (p.finally && p !== phase && phaseStatus(p) !== 'PENDING') for (const s of p.steps) resetStep(s);
  }
  return { changed: true, run: next, message: `Received cmd: restart for ${describe(run, target)}` };
}

/** Mark the plan, a phase or a step COMPLETE; a running step is cancelled. */
export function forceCompleteRun(run: RunState, target: Target, now: number): OperationResult {
  const next = structuredClone(run);
  const { phase, step } = resolve(next, target);
  const steps = step !== undefined ? [step] : phase !== undefined ? phase.steps : allSteps(next);
  if (steps.every((s) => s.status === 'COMPLETE')) {
    return { changed: false, run, message: `${describe(run, target)} is already complete` };
  }
  for (const s of steps) forceStep(s, now);
  return { changed: true, run: next, message: `Received cmd: forceComplete for ${describe(run, target)}` };
}
