import { createHash } from 'node:crypto';
import {
  continueRun,
  createRun,
  forceCompleteRun,
  interruptRun,
  nodeSelectionProblems,
  planTree,
  resolveParameters,
  restartRun,
  stopRun,
  type OperationResult,
  type ParameterProblem,
  type PlanSpec,
  type ResolvedParameters,
  type PlanTree,
  type RunState,
  type ServiceSpec,
  type SnapshotRecord,
  type Target,
} from '../engine/index.js';
import { AppError } from '../shared/index.js';
import type { RunStore } from './run-store.js';

export type Operation = 'stop' | 'interrupt' | 'continue' | 'restart' | 'forceComplete';

/** What the API serves: the services and the plans each can run. */
export interface Catalog {
  service(name: string): ServiceSpec | undefined;
  plans(service: string): PlanSpec[];
  /** The task that restores snapshots of a kind of storage (the task set belongs to tasks/). */
  restoreTask?(storage: string): string;
  /**
   * The checks and resolutions of a start request that need the service (its locations, the
   * snapshots in them): the parameters to run with, and every problem.
   */
  prepare?(service: ServiceSpec, plan: PlanSpec, resolved: ResolvedParameters): Promise<{ resolved: ResolvedParameters; problems: ParameterProblem[] }>;
}

/** A catalogue entry, with how to restore it: the plan of the service that does, and its parameters. */
export type SnapshotView = SnapshotRecord & { restore: { plan: string; parameters: Record<string, string> } | null };

/** A stable UUID-shaped id for plans that never ran, so clients can address their phases. */
function previewId(...parts: string[]): string {
  const hex = createHash('sha1').update(parts.join('/')).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Plans of services as the REST API sees them: latest run or a never-run preview, start, operations. */
export class PlanRuns {
  constructor(
    private readonly store: RunStore,
    private readonly catalog: Catalog,
  ) {}

  service(name: string): ServiceSpec {
    const service = this.catalog.service(name);
    if (service === undefined) throw new AppError('NOT_FOUND', `Service ${name} not found`);
    return service;
  }

  planNames(service: string): string[] {
    this.service(service);
    return this.catalog.plans(service).map((plan) => plan.name);
  }

  plan(service: string, name: string): PlanSpec {
    const plan = this.catalog.plans(this.service(service).name).find((p) => p.name === name);
    if (plan === undefined) throw new AppError('NOT_FOUND', `Plan ${name} not found`);
    return plan;
  }

  private preview(service: ServiceSpec, plan: PlanSpec): RunState {
    const values: Record<string, string> = {};
    for (const [name, spec] of Object.entries(plan.parameters)) if (spec.default !== undefined && !spec.secret) values[name] = spec.default;
    let n = 0;
    return createRun(plan, service, { values, secrets: {} }, {
      runId: '',
      now: 0,
      newId: () => previewId(service.name, plan.name, String(n++)),
      lenient: true,
    });
  }

  /** Committed snapshots of a service, newest first, each with the plan that restores it. */
  async snapshots(serviceName: string): Promise<SnapshotView[]> {
    const service = this.service(serviceName).name;
    const plans = this.catalog.plans(service);
    return (await this.store.snapshots(service)).map((record) => {
      const task = this.catalog.restoreTask?.(record.storage);
      const plan = task === undefined ? undefined : plans.find((p) => p.phases.some((phase) => phase.task === task));
      return {
        ...record,
        restore: plan === undefined ? null : { plan: plan.name, parameters: { SNAPSHOT_NAME: record.name, ...(record.locationParameters ?? { }) } },
      };
    });
  }

  /** The plan's latest run, or its never-run preview (all PENDING, `runId: null`). */
  async tree(serviceName: string, planName: string): Promise<PlanTree> {
    const plan = this.plan(serviceName, planName);
    const service = this.service(serviceName);
    const runId = await this.store.latestRunId(service.name, plan.name);
    const view = runId === null ? null : await this.store.view(runId);
    if (view === null) return planTree(this.preview(service, plan), {}, null);
    return { ...planTree(view.run, view.live), rerunBlocked: await this.store.rerunBlocked(view.run) };
  }

  /**
   * Validates the parameters (every problem at once) and starts a run.
   * @throws AppError INVALID_PARAMETERS with `details.problems`, or CONFLICT with `details.runId`.
   */
  async start(serviceName: string, planName: string, input: Record<string, unknown>): Promise<RunState> {
    const plan = this.plan(serviceName, planName);
    const service = this.service(serviceName);
    const resolved = resolveParameters(plan, input);
    const checked = { resolved: resolved.resolved, problems: [...resolved.problems, ...(resolved.problems.length === 0 ? nodeSelectionProblems(plan, service, resolved.resolved.values) : [])] };
    const prepared = this.catalog.prepare === undefined || checked.problems.length > 0 ? { resolved: checked.resolved, problems: [] } : await this.catalog.prepare(service, plan, checked.resolved);
    const problems = [...checked.problems, ...prepared.problems];
    if (problems.length > 0) {
      const summary = problems.map((p) => `${p.parameter} ${p.message}`).join('; ');
      throw new AppError('INVALID_PARAMETERS', `invalid parameters for plan ${plan.name}: ${summary}`, { details: { problems } });
    }
    return this.store.start(plan, service, prepared.resolved);
  }

  /** Applies an operation to the plan's latest run. `changed: false` is a 208. */
  async operate(serviceName: string, planName: string, operation: Operation, target: Target): Promise<{ changed: boolean; message: string }> {
    const plan = this.plan(serviceName, planName);
    if (target.step !== undefined && target.phase === undefined) throw new AppError('BAD_REQUEST', 'Missing phase');
    const runId = await this.store.latestRunId(serviceName, plan.name);
    const apply = (run: RunState): OperationResult => {
      switch (operation) {
        case 'stop':
          return stopRun(run);
        case 'interrupt':
          return interruptRun(run, target);
        case 'continue':
          return continueRun(run, target);
        case 'restart':
          return restartRun(run, target);
        case 'forceComplete':
          return forceCompleteRun(run, target, Date.now());
      }
    };
    if (runId === null) {
      // A plan that never ran is all PENDING: operations are checked against its preview (unknown
      // phases are 404, pausing or resuming it does nothing), but nothing is run or completed.
      const outcome = apply(this.preview(this.service(serviceName), plan));
      if (operation === 'forceComplete') throw new AppError('CONFLICT', `plan ${plan.name} has not run yet: start it first`);
      return operation === 'stop' ? { changed: true, message: outcome.message } : { changed: false, message: `plan ${plan.name} has not run yet` };
    }
    let outcome: OperationResult | undefined;
    const result = await this.store.update(runId, (run) => {
      outcome = apply(run);
      return outcome.changed ? outcome.run : null;
    });
    if (result === null || outcome === undefined) throw new AppError('NOT_FOUND', `run ${runId} of plan ${plan.name} no longer exists`);
    return { changed: outcome.changed, message: outcome.message };
  }
}
