import { Type, type Static } from '@sinclair/typebox';
import { SNAPSHOT_MODES } from '../engine/index.js';

/** `errorMessage` replaces TypeBox's default message for a schema (see yaml-document.ts). */
const NAME = { pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$', errorMessage: 'must be lower-case letters, digits and dashes' };
const STRATEGY = {
  pattern: '^(serial|parallel|\\{\\{\\s*[A-Za-z_][A-Za-z0-9_]*\\s*\\}\\})$',
  errorMessage: "must be serial, parallel or a '{{PARAMETER}}' reference",
};

export const ParameterSchema = Type.Object(
  {
    required: Type.Optional(Type.Boolean()),
    default: Type.Optional(Type.String({ errorMessage: 'must be a string (quote numbers and booleans)' })),
    enum: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
    pattern: Type.Optional(Type.String()),
    secret: Type.Optional(Type.Boolean()),
    description: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const PhaseSchema = Type.Object(
  {
    name: Type.String(NAME),
    strategy: Type.Optional(Type.String(STRATEGY)),
    pod: Type.Optional(Type.String({ pattern: '^(\\*|[a-z0-9]([a-z0-9-]*[a-z0-9])?)$', errorMessage: "must be a pod's name, or '*' for every pod" })),
    task: Type.String(NAME),
    nodes: Type.Optional(Type.String({ description: "only these nodes: '1', 'node-1,zk-0' or a '{{PARAMETER}}'; empty: every node" })),
    optional: Type.Optional(Type.Boolean()),
    finally: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const PlanSchema = Type.Object(
  {
    name: Type.String(NAME),
    description: Type.Optional(Type.String()),
    parameters: Type.Optional(Type.Record(Type.String(), ParameterSchema)),
    requireOneOf: Type.Optional(Type.Array(Type.Array(Type.String(), { minItems: 1 }), { minItems: 1 })),
    strategy: Type.Optional(Type.String(STRATEGY)),
    retry: Type.Optional(
      Type.Object(
        {
          attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
          backoffSeconds: Type.Optional(Type.Number({ minimum: 0 })),
          maxBackoffSeconds: Type.Optional(Type.Number({ minimum: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
    phases: Type.Array(PhaseSchema, { minItems: 1 }),
  },
  { additionalProperties: false },
);
export type PlanDocument = Static<typeof PlanSchema>;

export const HookSchema = Type.Object(
  {
    command: Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String(), { minItems: 1 })], {
      errorMessage: 'must be a shell command string or a list of arguments',
    }),
    timeoutSeconds: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    retryable: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const PodSchema = Type.Object(
  {
    count: Type.Integer({ minimum: 1, maximum: 1000 }),
    dataDir: Type.String({ minLength: 1 }),
    snapshot: Type.Optional(
      Type.Union(SNAPSHOT_MODES.map((mode) => Type.Literal(mode)), { errorMessage: `must be one of ${SNAPSHOT_MODES.join(', ')}` }),
    ),
  },
  { additionalProperties: false },
);

const ENV_NAME = { pattern: '^[A-Za-z_][A-Za-z0-9_]*$', errorMessage: 'must be the name of an environment variable' };

/** Where credentials come from: the names of environment variables, never the secrets themselves. */
export const LocationCredentialsSchema = Type.Object(
  {
    accessKeyIdEnv: Type.Optional(Type.String(ENV_NAME)),
    secretAccessKeyEnv: Type.Optional(Type.String(ENV_NAME)),
    sessionTokenEnv: Type.Optional(Type.String(ENV_NAME)),
    accountKeyEnv: Type.Optional(Type.String(ENV_NAME)),
    clientIdEnv: Type.Optional(Type.String(ENV_NAME)),
    tenantIdEnv: Type.Optional(Type.String(ENV_NAME)),
    clientSecretEnv: Type.Optional(Type.String(ENV_NAME)),
  },
  { additionalProperties: false },
);

/** One schema for every kind; which fields a kind needs and takes is checked per kind (specs.ts). */
export const LocationSchema = Type.Object(
  {
    storage: Type.Union([Type.Literal('s3'), Type.Literal('azure'), Type.Literal('fs')], { errorMessage: 'must be s3, azure or fs' }),
    bucket: Type.Optional(Type.String({ minLength: 1 })),
    region: Type.Optional(Type.String({ minLength: 1 })),
    account: Type.Optional(Type.String({ minLength: 1 })),
    container: Type.Optional(Type.String({ minLength: 1 })),
    path: Type.Optional(Type.String({ minLength: 1 })),
    endpoint: Type.Optional(Type.String({ pattern: '^https?://', errorMessage: 'must be an http:// or https:// URL' })),
    prefix: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._/-]+$', errorMessage: 'must be letters, digits, dots, dashes, underscores and slashes' })),
    credentials: Type.Optional(LocationCredentialsSchema),
    description: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type LocationDocument = Static<typeof LocationSchema>;

export const ServiceSchema = Type.Object(
  {
    name: Type.String(NAME),
    description: Type.Optional(Type.String()),
    pods: Type.Record(Type.String(), PodSchema, { minProperties: 1 }),
    hooks: Type.Optional(Type.Record(Type.String(), HookSchema)),
    locations: Type.Optional(Type.Record(Type.String(), LocationSchema)),
  },
  { additionalProperties: false },
);
export type ServiceDocument = Static<typeof ServiceSchema>;
