import { own } from '../shared/index.js';
import type { PhaseSpec, PlanSpec, ServiceSpec } from './types.js';

/** A phase's `pod: '*'`: one step for every instance of every pod, in the order the service declares them. */
export const ALL_PODS = '*';

export interface PhaseProblem {
  phase: PhaseSpec;
  message: string;
}

/**
 * Whether a service can run a plan: each phase's pod exists and its task is one of `builtins` (the
 * task set the composition root hands over; the engine knows no task by name) or a declared hook.
 */
export function phaseProblems(plan: PlanSpec, service: ServiceSpec, builtins: ReadonlySet<string>): PhaseProblem[] {
  const problems: PhaseProblem[] = [];
  for (const phase of plan.phases) {
    if (phase.pod !== undefined && phase.pod !== ALL_PODS && own(service.pods, phase.pod) === undefined) {
      problems.push({ phase, message: `phase ${phase.name}: service ${service.name} has no pod '${phase.pod}'` });
    }
    if (!builtins.has(phase.task) && own(service.hooks, phase.task) === undefined && !phase.optional) {
      problems.push({
        phase,
        message: `phase ${phase.name}: task '${phase.task}' is neither built in nor a hook of service ${service.name}`,
      });
    }
  }
  return problems;
}

/** Phases that run for this service: optional phases (which name hooks) are left out where the service lacks the hook. */
export function phasesFor(plan: PlanSpec, service: ServiceSpec): PlanSpec['phases'] {
  return plan.phases.filter((phase) => !phase.optional || own(service.hooks, phase.task) !== undefined);
}

/** The pod instances a phase walks: one pod, every pod (`*`), or none (a service-wide step). */
export function phaseInstances(phase: Pick<PhaseSpec, 'pod'>, service: ServiceSpec): Array<{ pod: string; index: number }> | null {
  if (phase.pod === undefined) return null;
  const pods = phase.pod === ALL_PODS ? Object.keys(service.pods) : [phase.pod];
  return pods.flatMap((pod) => Array.from({ length: own(service.pods, pod)?.count ?? 0 }, (_, index) => ({ pod, index })));
}
