import type { ParameterProblem, PlanSpec, ResolvedParameters, ServiceSpec } from '../engine/index.js';
import { own } from '../shared/index.js';
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
  for (const phase of plan.phases) {
    for (const kind of Object.keys(STORAGE_DRIVERS) as StorageKind[]) {
      if ([`upload-${kind}`, `preflight-restore-${kind}`, `fetch-restore-${kind}`].includes(phase.task)) return kind;
    }
  }
  return undefined;
}

/** Credential parameters of a group given in part (an access key id without its secret). */
function partialCredentials(plan: PlanSpec, resolved: ResolvedParameters): ParameterProblem[] {
  const kind = storageOfPlan(plan);
  if (kind === undefined) return [];
  const has = (name: string): boolean => resolved.values[name] !== undefined || resolved.secrets[name] !== undefined;
  return STORAGE_DRIVERS[kind].credentialGroups.flatMap((group) => {
    const given = group.filter(has);
    if (given.length === 0 || given.length === group.length) return [];
    return group.filter((name) => !has(name)).map((parameter) => ({ parameter, message: `is needed with ${given.join(', ')}: give ${group.join(', ')} together, or none of them for the default credential chain` }));
  });
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

/** Every service-level check and resolution of a start request. */
export async function prepareStart(service: ServiceSpec, plan: PlanSpec, resolved: ResolvedParameters, _options: PrepareOptions): Promise<PreparedStart> {
  return Promise.resolve({ resolved, problems: locationProblems(service, plan, resolved) });
}
