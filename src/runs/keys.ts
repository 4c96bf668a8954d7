/**
 * Redis keys of run state. Segments starting with '_' cannot clash with BullMQ's keys,
 * which are `<prefix>:<service>:<queue>:…` and service names are [a-z0-9-]+.
 */
export function createKeys(prefix: string) {
  const run = (id: string): string => `${prefix}:_run:${id}`;
  return {
    run,
    steps: (id: string): string => `${run(id)}:steps`,
    stepVersions: (id: string): string => `${run(id)}:stepv`,
    tokens: (id: string): string => `${run(id)}:tokens`,
    progress: (id: string): string => `${run(id)}:progress`,
    secrets: (id: string): string => `${run(id)}:secrets`,
    lock: (service: string): string => `${prefix}:_svc:${service}:lock`,
    latest: (service: string, plan: string): string => `${prefix}:_svc:${service}:plan:${plan}`,
    snapshots: (service: string): string => `${prefix}:_svc:${service}:snapshots`,
    manifests: (service: string): string => `${prefix}:_svc:${service}:manifests`,
    history: (service: string): string => `${prefix}:_svc:${service}:runs`,
    active: `${prefix}:_active`,
    /** Pub/sub channel: the id of a run that changed, for coordinators. */
    events: `${prefix}:_events`,
    /** Stream of typed run events (the outbox), written with the changes they describe. */
    outbox: `${prefix}:_outbox`,
  };
}

export type Keys = ReturnType<typeof createKeys>;
