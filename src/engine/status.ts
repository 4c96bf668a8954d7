import type { PhaseState, RunState, Status, StepState, Strategy } from './types.js';

/**
 * DC/OS `PlanUtils.getAggregateStatus` (rule order as in the reference): the first match wins.
 * `candidates` are the statuses of the children the element's strategy would pick now.
 */
export function aggregateStatus(
  children: readonly Status[],
  candidates: readonly Status[],
  hasErrors: boolean,
  interrupted: boolean,
): Status {
  if (hasErrors || children.includes('ERROR')) return 'ERROR';
  if (children.every((s) => s === 'COMPLETE')) return 'COMPLETE';
  if (interrupted) return 'WAITING';
  if (candidates.every((s) => s === 'DELAYED') && children.every((s) => s === 'DELAYED')) return 'DELAYED';
  if (candidates.includes('WAITING')) return 'WAITING';
  if (candidates.includes('IN_PROGRESS')) return 'IN_PROGRESS';
  const running = (s: Status): boolean => s === 'PENDING' || s === 'STARTING' || s === 'STARTED';
  if (children.includes('COMPLETE') && candidates.some(running)) return 'IN_PROGRESS';
  if (candidates.includes('PENDING')) return 'PENDING';
  if (children.includes('WAITING')) return 'WAITING';
  if (candidates.includes('STARTING')) return 'STARTING';
  if (candidates.includes('STARTED')) return 'STARTED';
  // Not in DC/OS, where DELAYED is momentary: a candidate waiting for its retry delays its parent.
  if (candidates.includes('DELAYED')) return 'DELAYED';
  return 'ERROR';
}

/**
 * Serial: the first incomplete element, if it is eligible. Parallel: every eligible element.
 * (DC/OS serial makes each element depend on all earlier ones, which comes to the same.)
 */
export function strategyCandidates<T>(
  strategy: Strategy,
  elements: readonly T[],
  isComplete: (element: T) => boolean,
  isEligible: (element: T) => boolean,
): T[] {
  if (strategy === 'serial') {
    const first = elements.find((element) => !isComplete(element));
    return first !== undefined && isEligible(first) ? [first] : [];
  }
  return elements.filter((element) => !isComplete(element) && isEligible(element));
}

export const isInFlight = (step: StepState): boolean => step.status === 'STARTING' || step.status === 'STARTED';
/** In flight, or waiting for a retry that will come: its attempt cycle is not over. */
export const isBusy = (step: StepState): boolean => isInFlight(step) || step.status === 'DELAYED';

const stepComplete = (step: StepState): boolean => step.status === 'COMPLETE';
/** DC/OS `PlanUtils.isEligible`: not complete and without errors. */
const stepEligible = (step: StepState): boolean => step.status !== 'ERROR';

export function phaseHasErrors(phase: PhaseState): boolean {
  return phase.steps.some((step) => step.status === 'ERROR');
}

export function phaseComplete(phase: PhaseState): boolean {
  return phase.steps.every(stepComplete);
}

/** Steps the phase's strategy picks now, ignoring interruption (the status rules handle it). */
export function phaseCandidates(phase: PhaseState, eligible: (step: StepState) => boolean = stepEligible): StepState[] {
  return strategyCandidates(phase.strategy, phase.steps, stepComplete, eligible);
}

export function phaseStatus(phase: PhaseState): Status {
  return aggregateStatus(
    phase.steps.map((step) => step.status),
    phaseCandidates(phase).map((step) => step.status),
    false,
    phase.interrupted,
  );
}

const phaseEligible = (phase: PhaseState): boolean => !phase.interrupted && !phaseHasErrors(phase);

/**
 * Phases the plan may work on now. The `finally` phases become candidates once the others can
 * make no more progress: all complete, or stopped by an error with nothing still running.
 */
export function planCandidates(run: RunState): PhaseState[] {
  const main = run.phases.filter((phase) => !phase.finally);
  const mainCandidates = strategyCandidates(run.strategy, main, phaseComplete, phaseEligible);
  if (mainCandidates.length > 0) return mainCandidates;
  const mainSettled =
    main.every(phaseComplete) ||
    (main.some(phaseHasErrors) && !main.some((phase) => phase.steps.some(isBusy)));
  if (!mainSettled) return [];
  return strategyCandidates(run.strategy, run.phases.filter((phase) => phase.finally), phaseComplete, phaseEligible);
}

export function planStatus(run: RunState): Status {
  return aggregateStatus(
    run.phases.map(phaseStatus),
    planCandidates(run).map(phaseStatus),
    false,
    run.interrupted,
  );
}

/** The plan's errors: one line per step in ERROR. */
export function planErrors(run: RunState): string[] {
  return run.phases.flatMap((phase) =>
    phase.steps.filter((step) => step.status === 'ERROR').map((step) => `${phase.name} ${step.name}: ${step.message}`),
  );
}

/**
 * Whether the run may still do work without an operator: it holds the service lock while so.
 * A paused run stays active; a stopped, complete or failed one is not, once nothing runs.
 */
export function isActive(run: RunState): boolean {
  if (run.phases.some((phase) => phase.steps.some(isInFlight))) return true;
  if (!run.stopped && !run.interrupted && run.phases.some((phase) => phase.steps.some(isBusy))) return true;
  if (run.stopped) return false;
  const status = planStatus(run);
  if (status === 'COMPLETE') return false;
  if (status === 'ERROR') return planCandidates(run).length > 0 && !run.interrupted;
  return true;
}
