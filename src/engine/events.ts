import { planErrors, planStatus } from './status.js';
import type { PhaseState, RunState, StepState } from './types.js';

/** The kinds of run events, as the outbox records them. */
export const RUN_EVENT_TYPES = ['run-started', 'step-started', 'step-finished', 'step-failed', 'run-finished'] as const;
export type RunEventType = (typeof RUN_EVENT_TYPES)[number];

interface EventBase {
  /** When it happened (ms). */
  at: number;
  runId: string;
  service: string;
  plan: string;
}

export interface StepEventFields {
  stepId: string;
  step: string;
  phase: string;
  pod: string | null;
  podIndex: number | null;
  attempt: number;
  message: string;
  bytes: number | null;
}

/**
 * What happened to a run, typed: written in the same atomic write as the change it describes,
 * so a reader of the outbox sees every transition once the state shows it.
 */
export type RunEvent =
  | (EventBase & { type: 'run-started'; parameters: Record<string, string> })
  | (EventBase & StepEventFields & { type: 'step-started' })
  | (EventBase & StepEventFields & { type: 'step-finished' })
  /** `final` false: the attempt failed and the step waits for its next one (DELAYED). */
  | (EventBase & StepEventFields & { type: 'step-failed'; final: boolean })
  | (EventBase & {
      type: 'run-finished';
      /** COMPLETE, ERROR, or STOPPED (an operator's stop). */
      outcome: 'COMPLETE' | 'ERROR' | 'STOPPED';
      startedAt: number;
      errors: string[];
      snapshot: string | null;
    });

const base = (run: RunState, at: number): EventBase => ({ at, runId: run.id, service: run.service, plan: run.plan });

function stepFields(phase: PhaseState, step: StepState): StepEventFields {
  return {
    stepId: step.id,
    step: step.name,
    phase: phase.name,
    pod: step.pod,
    podIndex: step.podIndex,
    attempt: step.attempts,
    message: step.message,
    bytes: step.progress?.bytesDone ?? null,
  };
}

/** The event of a step's change of status, if the change is one that is reported. */
export function stepEvent(run: RunState, phase: PhaseState, before: StepState | undefined, after: StepState, at: number): RunEvent | null {
  if (before !== undefined && before.status === after.status && before.attempts === after.attempts && before.gen === after.gen) return null;
  const fields = { ...base(run, at), ...stepFields(phase, after) };
  switch (after.status) {
    case 'STARTED':
      return { ...fields, type: 'step-started' };
    case 'COMPLETE':
      return { ...fields, type: 'step-finished' };
    case 'ERROR':
      return { ...fields, type: 'step-failed', final: true };
    case 'DELAYED':
      return before?.status === 'DELAYED' ? null : { ...fields, type: 'step-failed', final: false };
    default:
      return null;
  }
}

/** The run ended (it released its service): how. */
export function runFinishedEvent(run: RunState, at: number): RunEvent {
  const status = planStatus(run);
  const errors = planErrors(run);
  return {
    ...base(run, at),
    type: 'run-finished',
    outcome: run.stopped ? 'STOPPED' : status === 'COMPLETE' && errors.length === 0 ? 'COMPLETE' : 'ERROR',
    startedAt: run.createdAt,
    errors,
    snapshot: run.snapshot ?? null,
  };
}

export function runStartedEvent(run: RunState, parameters: Record<string, string>): RunEvent {
  return { ...base(run, run.createdAt), type: 'run-started', parameters };
}

/**
 * The events of a change from `before` to `after`: one per step whose status changed in a way
 * that is reported, and `run-finished` when the run stops holding its service.
 */
export function runEvents(before: RunState, after: RunState, at: number, finished: boolean): RunEvent[] {
  const previous = new Map(before.phases.flatMap((p) => p.steps).map((s) => [s.id, s]));
  const events: RunEvent[] = [];
  for (const phase of after.phases) {
    for (const step of phase.steps) {
      const event = stepEvent(after, phase, previous.get(step.id), step, at);
      if (event !== null) events.push(event);
    }
  }
  if (finished) events.push(runFinishedEvent(after, at));
  return events;
}
