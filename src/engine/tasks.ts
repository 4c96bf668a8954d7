import { own } from '../shared/index.js';
import type { PhaseSpec, PlanSpec, ServiceSpec } from './types.js';

/**
 * The tasks drplan implements itself. Any other task name in a plan must be a hook the service
 * declares. (tasks/ implements each of these; a test keeps the two lists equal.)
 */
export const BUILTIN_TASKS = [
  'snapshot',
  'cleanup-snapshot',
  'upload-s3',
  'fetch-restore-s3',
  'upload-azure',
  'fetch-restore-azure',
  'commit-manifest',
] as const;

export type BuiltinTask = (typeof BUILTIN_TASKS)[number];

export function isBuiltinTask(name: string): name is BuiltinTask {
  return (BUILTIN_TASKS as readonly string[]).includes(name);
}

export interface PhaseProblem {
  phase: PhaseSpec;
  message: string;
}

/** Whether a service can run a plan: each phase's pod exists and its task is built in or a declared hook. */
export function phaseProblems(plan: PlanSpec, service: ServiceSpec): PhaseProblem[] {
  const problems: PhaseProblem[] = [];
  for (const phase of plan.phases) {
    if (phase.pod !== undefined && own(service.pods, phase.pod) === undefined) {
      problems.push({ phase, message: `phase ${phase.name}: service ${service.name} has no pod '${phase.pod}'` });
    }
    if (!isBuiltinTask(phase.task) && own(service.hooks, phase.task) === undefined && !phase.optional) {
      problems.push({
        phase,
        message: `phase ${phase.name}: task '${phase.task}' is neither built in nor a hook of service ${service.name}`,
      });
    }
  }
  return problems;
}

/** Phases that run for this service: optional phases whose hook the service lacks are left out. */
export function phasesFor(plan: PlanSpec, service: ServiceSpec): PlanSpec['phases'] {
  return plan.phases.filter((phase) => !phase.optional || isBuiltinTask(phase.task) || own(service.hooks, phase.task) !== undefined);
}
