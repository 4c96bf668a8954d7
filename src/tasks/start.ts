import type { ParameterProblem, PlanSpec, ResolvedParameters, ServiceSpec } from '../engine/index.js';
import { AppError, errorMessage, own } from '../shared/index.js';
import { repositoryFor } from './location.js';
import { isRestoreTask, storageOfTask } from './registry.js';
import { STORAGE_DRIVERS, type StorageKind } from '../storage/index.js';

/** What a start request becomes once the service has had its say: the parameters to run with, and what is wrong. */
export interface PreparedStart {
  resolved: ResolvedParameters;
  problems: ParameterProblem[];
}

export interface PrepareOptions {
  /** The environment of the process that starts the run (for the credentials a location names). */
  environment: Readonly<Record<string, string | undefined>>;
}

/** The kind of storage a plan reads or writes: the one its built-in storage tasks name (`upload-s3`, …). */
export function storageOfPlan(plan: PlanSpec): StorageKind | undefined {
  return plan.phases.map((phase) => storageOfTask(phase.task)).find((kind) => kind !== undefined);
}

/** The credential problems of a start, as the plan's kind of storage sees them. */
function partialCredentials(plan: PlanSpec, resolved: ResolvedParameters): ParameterProblem[] {
  const kind = storageOfPlan(plan);
  return kind === undefined ? [] : STORAGE_DRIVERS[kind].credentialProblems((name) => resolved.values[name] !== undefined || resolved.secrets[name] !== undefined);
}

/**
 * The checks of a start request that need the service: `LOCATION` names one of its locations,
 * of the plan's kind of storage, and is not mixed with parameters that say where; credentials
 * come whole or not at all.
 */
export function locationProblems(service: ServiceSpec, plan: PlanSpec, resolved: ResolvedParameters): ParameterProblem[] {
  const partial = partialCredentials(plan, resolved);
  const name = resolved.values['LOCATION'];
  if (name === undefined) return partial;
  const spec = own(service.locations, name);
  const known = Object.keys(service.locations);
  if (spec === undefined) {
    return [...partial, { parameter: 'LOCATION', message: `'${name}' is not a location of service ${service.name} (${known.length === 0 ? 'it declares none' : `known: ${known.join(', ')}`})` }];
  }
  const problems: ParameterProblem[] = [...partial];
  const kind = storageOfPlan(plan);
  if (kind !== undefined && spec.storage !== kind) {
    const fitting = Object.values(service.locations).filter((l) => l.storage === kind).map((l) => l.name);
    problems.push({
      parameter: 'LOCATION',
      message: `'${name}' is ${spec.storage} storage, and plan ${plan.name} uses ${kind}${fitting.length === 0 ? '' : ` (${kind} locations: ${fitting.join(', ')})`}`,
    });
  }
  const where = STORAGE_DRIVERS[kind ?? (spec.storage as StorageKind)]?.whereParameters ?? [];
  for (const parameter of where.filter((p) => resolved.values[p] !== undefined && plan.parameters[p]?.default !== resolved.values[p])) {
    problems.push({ parameter, message: `cannot be given with LOCATION: location ${name} says where the snapshots are` });
  }
  return problems;
}

/** A plan that restores: one of its phases runs a restore task. */
const restores = (plan: PlanSpec): boolean => plan.phases.some((phase) => isRestoreTask(phase.task));

/**
 * `SNAPSHOT_NAME=latest` (with `RESTORE_BEFORE`, the newest committed before that time) becomes
 * the concrete name, read from the location's manifests when the run starts: every node then
 * restores the same snapshot, and the run's parameters say which.
 */
async function resolveLatest(service: ServiceSpec, plan: PlanSpec, resolved: ResolvedParameters, options: PrepareOptions): Promise<PreparedStart> {
  const kind = storageOfPlan(plan);
  const name = resolved.values['SNAPSHOT_NAME'];
  const before = resolved.values['RESTORE_BEFORE'];
  if (kind === undefined || !restores(plan)) return { resolved, problems: [] };
  if (before !== undefined && name !== LATEST) {
    return { resolved, problems: [{ parameter: 'RESTORE_BEFORE', message: `picks among the snapshots: give SNAPSHOT_NAME=${LATEST} with it (SNAPSHOT_NAME is ${name ?? 'not given'})` }] };
  }
  if (name !== LATEST) return { resolved, problems: [] };
  const limit = before === undefined ? Infinity : Date.parse(before);
  if (Number.isNaN(limit)) return { resolved, problems: [{ parameter: 'RESTORE_BEFORE', message: `'${before ?? ''}' is not a time (ISO 8601, e.g. 2026-12-01T02:00:00Z)` }] };
  let opened;
  try {
    opened = repositoryFor(kind, service, { ...resolved.values, ...resolved.secrets }, options.environment);
  } catch (error) {
    return { resolved, problems: [{ parameter: 'SNAPSHOT_NAME', message: `${LATEST} could not be resolved: ${errorMessage(error)}` }] };
  }
  const { repo } = opened;
  try {
    const listing = await repo.list();
    const chosen = listing.snapshots.find((s) => s.manifest.service === service.name && Date.parse(s.manifest.created) < limit);
    if (chosen === undefined) {
      return { resolved, problems: [{ parameter: 'SNAPSHOT_NAME', message: `${LATEST}: ${repo.where} holds no committed snapshot of service ${service.name}${before === undefined ? '' : ` created before ${before}`}` }] };
    }
    return { resolved: { values: { ...resolved.values, SNAPSHOT_NAME: chosen.name }, secrets: resolved.secrets }, problems: [] };
  } catch (error) {
    // A store that is down or slow is not a bad parameter: the start may be tried again.
    if (error instanceof AppError && error.retryable) throw new AppError(error.code, `${LATEST} could not be resolved from storage: ${error.message}`, { cause: error });
    return { resolved, problems: [{ parameter: 'SNAPSHOT_NAME', message: `${LATEST} could not be resolved from storage: ${errorMessage(error)}` }] };
  } finally {
    repo.store.close();
  }
}

/** The name that restore plans resolve to the newest committed snapshot (and backups may not take). */
export const LATEST = 'latest';

/** Every service-level check and resolution of a start request. */
export async function prepareStart(service: ServiceSpec, plan: PlanSpec, resolved: ResolvedParameters, options: PrepareOptions): Promise<PreparedStart> {
  const problems = locationProblems(service, plan, resolved);
  if (problems.length > 0) return { resolved, problems };
  return resolveLatest(service, plan, resolved, options);
}
