import { Type, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox';

/**
 * `T` or null, as a list of types (`type: [t, 'null']`) rather than an anyOf: the response
 * serializer writes it directly instead of validating the value against each branch (a plan
 * tree of a few hundred steps is serialized about 20 times faster), and OpenAPI 3.0 shows it
 * as `nullable`.
 */
function Nullable<T extends TSchema>(schema: T): TUnsafe<Static<T> | null> {
  const plain = JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
  if (typeof plain['type'] !== 'string') throw new Error('Nullable takes a schema with one type');
  return Type.Unsafe<Static<T> | null>({ ...plain, type: [plain['type'], 'null'] });
}

const STATUSES = ['PENDING', 'STARTING', 'STARTED', 'COMPLETE', 'DELAYED', 'ERROR', 'WAITING', 'IN_PROGRESS'];

/** An enum of strings (not a union of literals, for the same reason as Nullable). */
export const StatusSchema = Type.Unsafe<string>({ $id: 'Status', type: 'string', enum: STATUSES, description: 'DC/OS plan status' });

const progressFields = {
  bytesDone: Type.Number(),
  bytesTotal: Nullable(Type.Number()),
  rate: Type.Optional(Type.Number({ description: 'bytes per second over the last seconds' })),
  eta: Type.Optional(Type.Number({ description: 'seconds left at the current rate' })),
};

export const ProgressSchema = Type.Object(progressFields, { $id: 'Progress' });

export const StepSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String({ examples: ['node-0:[upload-s3]'] }),
    status: Type.Ref(StatusSchema),
    attempts: Type.Integer(),
    message: Type.String(),
    progress: Nullable(Type.Object(progressFields, { description: 'bytes moved (the Progress schema), null for steps that move none' })),
    startedAt: Nullable(Type.String({ format: 'date-time' })),
    finishedAt: Nullable(Type.String({ format: 'date-time' })),
    retryAt: Nullable(Type.String({ format: 'date-time', description: 'when a DELAYED step runs again' })),
  },
  { $id: 'Step' },
);

export const PhaseSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    status: Type.Ref(StatusSchema),
    strategy: Type.String(),
    steps: Type.Array(Type.Ref(StepSchema)),
  },
  { $id: 'Phase' },
);

export const PlanSchema = Type.Object(
  {
    name: Type.String(),
    service: Type.String(),
    runId: Nullable(Type.String({ description: 'null for a plan that never ran' })),
    status: Type.Ref(StatusSchema),
    active: Type.Boolean({ description: 'the run has work left (running, due, or paused); false once it ended or was stopped' }),
    interrupted: Type.Boolean({ description: 'the plan itself is paused (interrupt without a phase)' }),
    strategy: Type.String(),
    parameters: Type.Record(Type.String(), Type.String(), { description: 'secret values are masked' }),
    startedAt: Nullable(Type.String({ format: 'date-time' })),
    finishedAt: Nullable(Type.String({ format: 'date-time' })),
    errors: Type.Array(Type.String()),
    progress: Type.Object({ bytesDone: Type.Number(), bytesTotal: Nullable(Type.Number()) }),
    phases: Type.Array(Type.Ref(PhaseSchema)),
    snapshot: Type.Optional(Nullable(Type.String({ description: 'the snapshot the run committed; kept when a stop came after the commit' }))),
    stoppedAt: Type.Optional(Nullable(Type.String({ format: 'date-time', description: 'the last stop of the run' }))),
    stoppedBy: Type.Optional(Nullable(Type.String({ description: 'who asked for the last stop, as the API saw the client' }))),
    rerunBlocked: Type.Optional(Nullable(Type.String({ description: 'why the run cannot run again (restart, or resume after a stop): its secret parameters were discarded; null when it can' }))),
  },
  { $id: 'Plan' },
);
export type PlanInfo = Static<typeof PlanSchema>;

export const ErrorSchema = Type.Object(
  {
    error: Type.String({ examples: ['NOT_FOUND'] }),
    message: Type.String(),
    problems: Type.Optional(Type.Array(Type.Object({ parameter: Type.String(), message: Type.String() }))),
    runId: Type.Optional(Type.String({ description: 'the active run, on 409' })),
  },
  { $id: 'Error' },
);

export const MessageSchema = Type.Object({ message: Type.String() }, { $id: 'Message' });

export const StartedSchema = Type.Object(
  {
    message: Type.String(),
    runId: Type.String(),
    parameters: Type.Record(Type.String(), Type.String(), { description: 'secret values are masked' }),
  },
  { $id: 'Started' },
);

export const PhaseQuery = Type.Object({ phase: Type.Optional(Type.String({ description: 'phase name or id' })) }, { additionalProperties: false });
export const StepQuery = Type.Object(
  {
    phase: Type.Optional(Type.String({ description: 'phase name or id' })),
    step: Type.Optional(Type.String({ description: 'step name or id; needs phase' })),
  },
  { additionalProperties: false },
);

export const SnapshotSchema = Type.Object(
  {
    name: Type.String(),
    service: Type.String(),
    plan: Type.String(),
    runId: Type.String(),
    storage: Type.String({ examples: ['s3', 'azure'] }),
    location: Type.String({ description: 'the bucket or container' }),
    prefix: Type.Optional(Type.String({ description: "the key prefix in it, '' for none" })),
    endpoint: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: "the storage endpoint; null for the cloud's own" })),
    region: Type.Optional(Type.String({ description: "S3: the bucket's region" })),
    account: Type.Optional(Type.String({ description: 'Azure: the storage account' })),
    locationName: Type.Optional(Type.String({ description: "the service's name for the location (LOCATION), when the backup named one" })),
    locationParameters: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'the plan parameters that name the location (no secret)' })),
    created: Type.String({ format: 'date-time' }),
    bytes: Type.Number(),
    nodes: Type.Integer(),
    pods: Type.Optional(Type.Array(Type.Object({ name: Type.String(), count: Type.Integer() }))),
    type: Type.Optional(Type.String({ description: 'full or incremental' })),
    parent: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    restore: Type.Union(
      [Type.Object({ plan: Type.String(), parameters: Type.Record(Type.String(), Type.String()) }), Type.Null()],
      { description: 'the plan of the service that restores this snapshot, and the parameters that name it (secrets still to add); null when none does' },
    ),
  },
  { $id: 'Snapshot' },
);
export type SnapshotInfo = Static<typeof SnapshotSchema>;

export const SnapshotDetailSchema = Type.Object(
  {
    ...SnapshotSchema.properties,
    manifest: Type.Unknown({ description: 'manifest.json as committed (format 2); null for entries recorded before manifests were kept' }),
    chain: Type.Array(Type.String(), { description: 'the snapshots a restore of this one reads, from its full to itself' }),
    dependents: Type.Array(Type.String(), { description: 'snapshots whose parent this one is' }),
  },
  { $id: 'SnapshotDetail' },
);
export type SnapshotDetailInfo = Static<typeof SnapshotDetailSchema>;

export const RunSummarySchema = Type.Object(
  {
    id: Type.String(),
    plan: Type.String(),
    status: Type.Ref(StatusSchema),
    parameters: Type.Record(Type.String(), Type.String(), { description: 'secret values are masked' }),
    startedAt: Type.String({ format: 'date-time' }),
    finishedAt: Nullable(Type.String({ format: 'date-time' })),
    durationMs: Type.Number({ description: 'from start to end, or until now for a run still going' }),
    active: Type.Boolean(),
    bytes: Type.Number({ description: 'bytes the steps moved' }),
    errors: Type.Array(Type.String()),
    snapshot: Nullable(Type.String({ description: 'the snapshot the run committed, also when a stop came after the commit' })),
    stoppedAt: Nullable(Type.String({ format: 'date-time' })),
    stoppedBy: Nullable(Type.String({ description: 'who asked for the stop: the client and its address, as the API saw them' })),
  },
  { $id: 'RunSummary' },
);
export type RunInfo = Static<typeof RunSummarySchema>;

export const RefreshResultSchema = Type.Object(
  {
    location: Type.String(),
    snapshots: Type.Integer({ description: 'committed snapshots of the service the location holds' }),
    added: Type.Array(Type.String()),
    removed: Type.Array(Type.String(), { description: 'catalogue entries with no manifest behind them any more' }),
    unreadable: Type.Array(Type.Object({ name: Type.String(), problem: Type.String() })),
    incomplete: Type.Array(Type.String(), { description: 'snapshot directories without a manifest: backups that never committed' }),
    error: Type.Optional(Type.String({ description: 'why the location could not be read; its entries were left as they were' })),
  },
  { $id: 'RefreshResult' },
);

export const ParameterSchema = Type.Object(
  {
    name: Type.String(),
    required: Type.Boolean(),
    secret: Type.Boolean({ description: 'masked in every response and log; a secret default is never shown' }),
    default: Type.Optional(Type.String()),
    enum: Type.Optional(Type.Array(Type.String())),
    pattern: Type.Optional(Type.String({ description: 'a regular expression the whole value must match' })),
    description: Type.Optional(Type.String()),
  },
  { $id: 'Parameter' },
);

export const PlanParametersSchema = Type.Object(
  {
    plan: Type.String(),
    service: Type.String(),
    description: Type.String(),
    parameters: Type.Array(Type.Ref(ParameterSchema), { description: 'in the order the plan declares them' }),
    requireOneOf: Type.Array(Type.Array(Type.String()), { description: 'groups of parameters of which at least one must be given in full' }),
  },
  { $id: 'PlanParameters' },
);
export type PlanParameters = Static<typeof PlanParametersSchema>;

export const SHARED_SCHEMAS = [
  StatusSchema,
  ProgressSchema,
  StepSchema,
  PhaseSchema,
  PlanSchema,
  ErrorSchema,
  MessageSchema,
  StartedSchema,
  SnapshotSchema,
  SnapshotDetailSchema,
  RefreshResultSchema,
  RunSummarySchema,
  ParameterSchema,
  PlanParametersSchema,
];
