import { Repository } from '../repository/index.js';
import { storageDriver, type Location, type StorageKind } from '../storage/index.js';
import type { TaskContext } from './types.js';

/** The repository a step's parameters name (or the one given), with the run's secrets to open it. */
export async function openRepository(kind: StorageKind, context: TaskContext, location?: Location): Promise<{ repo: Repository; location: Location; values: Record<string, string> }> {
  const values = { ...context.parameters, ...(await context.secrets()) };
  const driver = storageDriver(kind);
  const where = location ?? driver.locate(values);
  return { repo: new Repository(driver.open(where, values, context.settings.transfer), where.prefix), location: where, values };
}

/** The shape a snapshot of the service must have: its name, and each pod with its count. */
export function serviceShape(context: Pick<TaskContext, 'service'>): { name: string; pods: Array<{ name: string; count: number }> } {
  return { name: context.service.name, pods: Object.entries(context.service.pods).map(([name, pod]) => ({ name, count: pod.count })) };
}
