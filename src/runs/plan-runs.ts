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
import type { RunStore, RunSummary } from './run-store.js';

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
  /** What a named location of the service holds, read from its manifests (the source of truth). */
  listLocation?(service: ServiceSpec, location: string): Promise<LocationContents>;
}

/** A location's committed snapshots of a service, with their manifests, and what else it holds. */
export interface LocationContents {
  snapshots: Array<{ record: SnapshotRecord; manifest: unknown }>;
  unreadable: Array<{ name: string; problem: string }>;
  incomplete: string[];
  otherServices: number;
}

/** What a refresh found in one location. */
export interface RefreshResult {
  location: string;
  snapshots: number;
  added: string[];
  removed: string[];
  unreadable: Array<{ name: string; problem: string }>;
  incomplete: string[];
  /** Why the location could not be read: its catalogue entries were left as they were. */
  error?: string;
}

/** One snapshot: its catalogue entry, its manifest, its chain and what builds on it. */
export type SnapshotDetail = SnapshotView & { manifest: unknown; chain: string[]; dependents: string[] };

/** A catalogue entry, with how to restore it: the plan of the service that does, and its parameters. */
export type SnapshotView = SnapshotRecord & { restore: { plan: string; parameters: Record<string, string> } | null };

/** A stable UUID-shaped id for plans that never ran, so clients can address their phases. */
function previewId(...parts: string[]): string {
  const hex = createHash('sha1').update(parts.join('/')).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** A plan tree and its entity tag: it names the run and its version (null for a plan never run). */
export interface TaggedTree {
  tree: PlanTree;
  tag: string | null;
}

/** Trees kept built, the most recently built ones. */
const TREES_CACHED = 256;
/** The least time between two builds of a run's tree for changes made by other processes. */
const TREE_REBUILD_MS = 100;

const treeTag = (runId: string, version: string): string => `"${runId}.${version}"`;

/** Plans of services as the REST API sees them: latest run or a never-run preview, start, operations. */
export class PlanRuns {
  private readonly trees = new Map<string, { version: string; tree: PlanTree; builtAt: number }>();
  /** The build under way per run, with the run's generation when it began. */
  private readonly building = new Map<string, { generation: number; tree: Promise<TaggedTree | null> }>();
  /** Bumped by this process's own changes of a run: what was built or begun before is not used after. */
  private readonly generations = new Map<string, number>();

  constructor(
    private readonly store: RunStore,
    private readonly catalog: Catalog,
    private readonly now: () => number = Date.now,
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

  private view(record: SnapshotRecord, plans: PlanSpec[]): SnapshotView {
    const task = this.catalog.restoreTask?.(record.storage);
    const plan = task === undefined ? undefined : plans.find((p) => p.phases.some((phase) => phase.task === task));
    return {
      ...record,
      restore: plan === undefined ? null : { plan: plan.name, parameters: { SNAPSHOT_NAME: record.name, ...(record.locationParameters ?? {}) } },
    };
  }

  /** Committed snapshots of a service, newest first, each with the plan that restores it; `location` keeps those of one named location. */
  async snapshots(serviceName: string, location?: string): Promise<SnapshotView[]> {
    const service = this.service(serviceName);
    if (location !== undefined) this.location(service, location);
    const plans = this.catalog.plans(service.name);
    return (await this.store.snapshots(service.name)).filter((r) => location === undefined || r.locationName === location).map((record) => this.view(record, plans));
  }

  private location(service: ServiceSpec, name: string): string {
    if (service.locations[name] === undefined) {
      const known = Object.keys(service.locations);
      throw new AppError('NOT_FOUND', `service ${service.name} has no location '${name}' (${known.length === 0 ? 'it declares none' : `known: ${known.join(', ')}`})`);
    }
    return name;
  }

  /** One snapshot of the catalogue with its manifest, the chain it restores with, and the snapshots that build on it. */
  async snapshot(serviceName: string, name: string, location?: string): Promise<SnapshotDetail> {
    const service = this.service(serviceName);
    const all = await this.store.snapshots(service.name);
    const matching = all.filter((r) => r.name === name && (location === undefined || r.locationName === location));
    const record = matching[0];
    if (record === undefined) throw new AppError('NOT_FOUND', `snapshot ${name} of service ${service.name} is not in the catalogue${location === undefined ? '' : ` for location ${location}`} (drplan snapshots refresh reads it again from storage)`);
    if (matching.length > 1) {
      throw new AppError('CONFLICT', `snapshot ${name} is in ${matching.length} places (${matching.map((r) => `${r.storage}://${r.location}/${r.prefix ?? ''}`).join(', ')}): name one with ?location=`);
    }
    const samePlace = all.filter((r) => r.storage === record.storage && r.location === record.location && (r.prefix ?? '') === (record.prefix ?? ''));
    const chain: string[] = [record.name];
    for (let parent = record.parent ?? null; parent !== null && !chain.includes(parent); ) {
      chain.unshift(parent);
      parent = samePlace.find((r) => r.name === parent)?.parent ?? null;
    }
    return {
      ...this.view(record, this.catalog.plans(service.name)),
      manifest: await this.store.snapshotManifest(record),
      chain,
      dependents: samePlace.filter((r) => r.parent === record.name).map((r) => r.name),
    };
  }

  /**
   * Rebuilds the catalogue from storage: every named location of the service (or the one given)
   * is listed, and its entries become exactly its committed snapshots of this service.
   */
  async refresh(serviceName: string, location?: string): Promise<RefreshResult[]> {
    const service = this.service(serviceName);
    const catalog = this.catalog;
    if (catalog.listLocation === undefined) throw new AppError('NOT_IMPLEMENTED', 'this server cannot read storage');
    const names = location === undefined ? Object.keys(service.locations) : [this.location(service, location)];
    if (names.length === 0) throw new AppError('BAD_REQUEST', `service ${service.name} declares no locations to refresh from (locations: in ${service.file})`);
    const results: RefreshResult[] = [];
    for (const name of names) {
      let contents: LocationContents;
      const listedFrom = new Date().toISOString();
      try {
        contents = await catalog.listLocation(service, name);
      } catch (error) {
        // Said in the result (whatever its code: a variable the API lacks is a 500 that would be
        // hidden), and the location's entries stay as they were.
        results.push({ location: name, snapshots: 0, added: [], removed: [], unreadable: [], incomplete: [], error: error instanceof Error ? error.message : String(error) });
        continue;
      }
      const first = contents.snapshots[0]?.record;
      const spec = service.locations[name]!;
      const place = first ?? { storage: spec.storage, location: spec.container, prefix: spec.prefix, endpoint: spec.endpoint, ...(spec.account === undefined ? {} : { account: spec.account }) };
      const { added, removed } = await this.store.replaceSnapshots(service.name, place, contents.snapshots, listedFrom);
      results.push({ location: name, snapshots: contents.snapshots.length, added, removed, unreadable: contents.unreadable, incomplete: contents.incomplete });
    }
    return results;
  }

  /** The service's run history, newest first. */
  async runs(serviceName: string, options: { plan?: string; limit?: number } = {}): Promise<RunSummary[]> {
    const service = this.service(serviceName);
    if (options.plan !== undefined) this.plan(service.name, options.plan);
    return this.store.history(service.name, options);
  }

  /** One run's whole tree, also after later runs of its plan replaced it on the plan's route. */
  async run(serviceName: string, runId: string): Promise<TaggedTree> {
    const service = this.service(serviceName);
    // Run ids are UUIDs: anything else names no run (and never another key).
    const found = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(runId) ? await this.runTree(runId) : null;
    if (found === null || found.tree.service !== service.name) throw new AppError('NOT_FOUND', `run ${runId} of service ${service.name} is not in the history (the last runs are kept, DRPLAN_RUN_HISTORY)`);
    return found;
  }

  /**
   * The plan's latest run, or its never-run preview (all PENDING, `runId: null`, no tag). A
   * run's tree is built once per version of the run: asking again costs two small reads.
   */
  async tree(serviceName: string, planName: string): Promise<TaggedTree> {
    const plan = this.plan(serviceName, planName);
    const service = this.service(serviceName);
    const runId = await this.store.latestRunId(service.name, plan.name);
    const found = runId === null ? null : await this.runTree(runId);
    return found ?? { tree: planTree(this.preview(service, plan), {}, null), tag: null };
  }

  /**
   * A run's tree, built again when the run changed, but not more often than every
   * TREE_REBUILD_MS for changes made elsewhere (workers, other API processes): a run of many
   * nodes changes hundreds of times a second, and its readers see it at most that much late.
   * What this process changes itself is seen at once.
   */
  private async runTree(runId: string): Promise<TaggedTree | null> {
    const version = await this.store.version(runId);
    if (version === null) return null;
    const cached = this.trees.get(runId);
    if (cached !== undefined && (cached.version === version || this.now() - cached.builtAt < TREE_REBUILD_MS)) return { tree: cached.tree, tag: treeTag(runId, cached.version) };
    // One build at a time per run: the requests that arrive meanwhile wait for it.
    const generation = this.generations.get(runId) ?? 0;
    const under = this.building.get(runId);
    if (under !== undefined && under.generation === generation) return under.tree;
    const tree = this.buildTree(runId, generation).finally(() => {
      if (this.building.get(runId)?.tree === tree) this.building.delete(runId);
    });
    this.building.set(runId, { generation, tree });
    return tree;
  }

  /** After this process changed a run: its next read sees the change. */
  private forget(runId: string): void {
    this.trees.delete(runId);
    const next = (this.generations.get(runId) ?? 0) + 1;
    this.generations.delete(runId);
    this.generations.set(runId, next);
    if (this.generations.size > TREES_CACHED) this.generations.delete(this.generations.keys().next().value as string);
  }

  private async buildTree(runId: string, generation: number): Promise<TaggedTree | null> {
    const builtAt = this.now();
    const view = await this.store.view(runId);
    if (view === null) return null;
    const tree = { ...planTree(view.run, view.live), rerunBlocked: view.rerunBlocked };
    // A change this process made meanwhile makes this build too old to keep.
    if ((this.generations.get(runId) ?? 0) !== generation) return { tree, tag: treeTag(runId, view.version) };
    this.trees.delete(runId);
    this.trees.set(runId, { version: view.version, tree, builtAt });
    if (this.trees.size > TREES_CACHED) this.trees.delete(this.trees.keys().next().value as string);
    return { tree, tag: treeTag(runId, view.version) };
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
  async operate(serviceName: string, planName: string, operation: Operation, target: Target, actor?: string): Promise<{ changed: boolean; message: string }> {
    const plan = this.plan(serviceName, planName);
    if (target.step !== undefined && target.phase === undefined) throw new AppError('BAD_REQUEST', 'Missing phase');
    const runId = await this.store.latestRunId(serviceName, plan.name);
    const apply = (run: RunState): OperationResult => {
      switch (operation) {
        case 'stop':
          return stopRun(run, { at: Date.now(), ...(actor === undefined ? {} : { by: actor }) });
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
    this.forget(runId);
    if (result === null || outcome === undefined) throw new AppError('NOT_FOUND', `run ${runId} of plan ${plan.name} no longer exists`);
    return { changed: outcome.changed, message: outcome.message };
  }
}
