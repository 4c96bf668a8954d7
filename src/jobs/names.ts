/** Where a step's job goes: one queue per pod instance, plus one per service for service-wide steps. */
export interface QueueAddress {
  /** BullMQ key prefix, `<DRPLAN_QUEUE_PREFIX>:<service>`. */
  prefix: string;
  /** BullMQ queue name: `node-<i>`, or `service`. */
  name: string;
}

/** The queue name for service-wide steps; pod instances are always `<pod>-<index>`, so it cannot clash. */
export const SERVICE_QUEUE = 'service';

/** The queue of a pod instance, `<prefix>:<service>:node-<i>` in Redis. */
export function queueAddress(prefix: string, service: string, pod: string | null, podIndex: number | null): QueueAddress {
  return { prefix: `${prefix}:${service}`, name: pod === null || podIndex === null ? SERVICE_QUEUE : `${pod}-${podIndex}` };
}

/** The full name as it appears in Redis keys and logs. */
export function queueLabel(address: QueueAddress): string {
  return `${address.prefix}:${address.name}`;
}
