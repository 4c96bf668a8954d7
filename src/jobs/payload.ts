import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { AttemptRef } from '../engine/index.js';

/**
 * A job carries only what identifies one attempt of one step: no parameters and no secrets.
 * The worker reads the rest from the run.
 */
export const StepJobSchema = Type.Object(
  {
    runId: Type.String(),
    stepId: Type.String(),
    gen: Type.Integer({ minimum: 0 }),
    attempt: Type.Integer({ minimum: 1 }),
    service: Type.String(),
    plan: Type.String(),
    step: Type.String(),
    task: Type.String(),
    pod: Type.Union([Type.String(), Type.Null()]),
    podIndex: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
  },
  { additionalProperties: false },
);
export type StepJob = Static<typeof StepJobSchema>;

export function parseStepJob(data: unknown): StepJob {
  if (!Value.Check(StepJobSchema, data)) {
    const first = [...Value.Errors(StepJobSchema, data)][0];
    throw new Error(`malformed step job: ${first?.path ?? ''} ${first?.message ?? ''}`.trim());
  }
  return data;
}

export function attemptRef(job: StepJob): AttemptRef {
  return { runId: job.runId, stepId: job.stepId, gen: job.gen, attempt: job.attempt };
}

/** One id per attempt: adding the same attempt twice yields one job. */
export function jobIdOf(ref: AttemptRef): string {
  return `${ref.runId}.${ref.stepId}.${ref.gen}.${ref.attempt}`;
}
