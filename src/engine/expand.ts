import { own } from '../shared/index.js';
import { renderTemplate, type ResolvedParameters } from './parameters.js';
import { selectedInstances } from './nodes.js';
import { phasesFor } from './tasks.js';
import type { PhaseState, PlanSpec, RunState, ServiceSpec, StepState, Strategy } from './types.js';
import { STRATEGIES } from './types.js';

export interface CreateRunOptions {
  runId: string;
  now: number;
  /** Makes the ids of phases and steps. */
  newId: () => string;
  /** Use serial where a strategy does not resolve, instead of throwing (plan previews). */
  lenient?: boolean;
}

function toStrategy(text: string, values: Record<string, string>, lenient: boolean): Strategy {
  const rendered = renderTemplate(text, values);
  if (STRATEGIES.includes(rendered as Strategy)) return rendered as Strategy;
  if (lenient) return 'serial';
  throw new Error(`strategy '${rendered}' is not one of ${STRATEGIES.join(', ')}`);
}

/** The step name DC/OS uses: `<pod>-<index>:[<task>]`, or `<service>:[<task>]` for a service-wide step. */
export function stepName(task: string, pod: string | null, podIndex: number | null, service: string): string {
  return pod === null || podIndex === null ? `${service}:[${task}]` : `${pod}-${podIndex}:[${task}]`;
}

export function newStep(id: string, name: string, task: string, pod: string | null, podIndex: number | null): StepState {
  return {
    id,
    name,
    task,
    pod,
    podIndex,
    status: 'PENDING',
    gen: 0,
    attempts: 0,
    owner: null,
    message: '',
    startedAt: null,
    finishedAt: null,
    retryAt: null,
    progress: null,
    result: null,
  };
}

/**
 * Expands a plan for a service with resolved parameters: each phase gets one step per instance
 * of its pod (or one service-wide step), strategies are resolved from the parameters.
 */
export function createRun(plan: PlanSpec, service: ServiceSpec, parameters: ResolvedParameters, options: CreateRunOptions): RunState {
  const lenient = options.lenient ?? false;
  const phases: PhaseState[] = phasesFor(plan, service).map((spec) => {
    const instances = selectedInstances(spec, service, parameters.values);
    const steps =
      instances === null
        ? [newStep(options.newId(), stepName(spec.task, null, null, service.name), spec.task, null, null)]
        : instances.map(({ pod, index }) => newStep(options.newId(), stepName(spec.task, pod, index, service.name), spec.task, pod, index));
    return {
      id: options.newId(),
      name: spec.name,
      strategy: toStrategy(spec.strategy, parameters.values, lenient),
      task: spec.task,
      finally: spec.finally,
      interrupted: false,
      steps,
    };
  });
  return {
    id: options.runId,
    plan: plan.name,
    service: service.name,
    strategy: toStrategy(plan.strategy, parameters.values, lenient),
    interrupted: false,
    stopped: false,
    parameters: { ...parameters.values },
    secretNames: Object.keys(parameters.secrets).sort(),
    retry: { ...plan.retry },
    createdAt: options.now,
    finishedAt: null,
    phases,
  };
}

/** A pod instance's data directory. */
export function dataDirOf(service: ServiceSpec, pod: string, index: number): string {
  const spec = own(service.pods, pod);
  if (spec === undefined) throw new Error(`service ${service.name} has no pod ${pod}`);
  return spec.dataDir.replace(/\{\{\s*POD_INDEX\s*\}\}/g, String(index));
}
