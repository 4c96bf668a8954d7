import type { LocationSpec, ServiceSpec } from '../engine/index.js';
import { Repository } from '../repository/index.js';
import { AppError, own } from '../shared/index.js';
import { DEFAULT_TRANSFER_SETTINGS, storageDriver, type Location, type StorageKind, type TransferSettings } from '../storage/index.js';
import type { TaskContext } from './types.js';

/** The storage location a service's named location describes. */
export function locationOf(spec: LocationSpec): Location {
  return {
    storage: spec.storage as StorageKind,
    name: spec.container,
    prefix: spec.prefix,
    endpoint: spec.endpoint,
    ...(spec.region === undefined ? {} : { region: spec.region }),
    ...(spec.account === undefined ? {} : { account: spec.account }),
    locationName: spec.name,
  };
}

/** The named location of a service. @throws AppError CONFIG naming the known ones. */
export function namedLocation(service: ServiceSpec, name: string): LocationSpec {
  const spec = own(service.locations, name);
  if (spec === undefined) {
    const known = Object.keys(service.locations);
    throw new AppError('CONFIG', `service ${service.name} has no location '${name}' (${known.length === 0 ? 'it declares none' : `known: ${known.join(', ')}`})`);
  }
  return spec;
}

/**
 * The credentials a location names, read from `environment` (the process that runs the step), as
 * the plan parameters they stand for. None named: the storage SDK's default chain applies.
 * @throws AppError CONFIG naming every variable that is not set (never a value).
 */
export function locationCredentials(spec: LocationSpec, environment: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const values: Record<string, string> = {};
  const unset: string[] = [];
  for (const [parameter, variable] of Object.entries(spec.credentialsEnv)) {
    const value = environment[variable];
    if (value === undefined || value === '') unset.push(variable);
    else values[parameter] = value;
  }
  if (unset.length > 0) {
    throw new AppError('CONFIG', `location ${spec.name} takes its credentials from ${unset.join(', ')}, which ${unset.length === 1 ? 'is' : 'are'} not set in the environment of the process running this step`);
  }
  return values;
}

/**
 * The repository that `values` (parameters and secrets) name (`LOCATION`, or the storage
 * parameters), or the one given, with the credentials to open it: the values first, then the
 * variables the location names in `environment`, then the SDK's default chain.
 */
export function repositoryFor(
  kind: StorageKind,
  service: ServiceSpec,
  given: Readonly<Record<string, string>>,
  environment: Readonly<Record<string, string | undefined>>,
  transfer: TransferSettings = DEFAULT_TRANSFER_SETTINGS,
  location?: Location,
): { repo: Repository; location: Location; values: Record<string, string> } {
  const driver = storageDriver(kind);
  const named = location?.locationName ?? (given['LOCATION'] === '' ? undefined : given['LOCATION']);
  let values = { ...given };
  let where = location;
  if (named !== undefined) {
    const spec = namedLocation(service, named);
    if (spec.storage !== kind) throw new AppError('CONFIG', `location ${named} of service ${service.name} is ${spec.storage} storage, not ${kind}`);
    values = { ...locationCredentials(spec, environment), ...given };
    where ??= locationOf(spec);
  }
  where ??= driver.locate(values);
  return { repo: new Repository(driver.open(where, values, transfer), where.prefix), location: where, values };
}

/** The repository a step's parameters name (or the one given), opened in the agent. */
export async function openRepository(kind: StorageKind, context: TaskContext, location?: Location): Promise<{ repo: Repository; location: Location; values: Record<string, string> }> {
  const given = { ...context.parameters, ...(await context.secrets()) };
  return repositoryFor(kind, context.service, given, context.settings.environment, context.settings.transfer, location);
}

/** The shape a snapshot of the service must have: its name, and each pod with its count. */
export function serviceShape(context: Pick<TaskContext, 'service'>): { name: string; pods: Array<{ name: string; count: number }> } {
  return { name: context.service.name, pods: Object.entries(context.service.pods).map(([name, pod]) => ({ name, count: pod.count })) };
}
