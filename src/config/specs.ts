import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import {
  PARAMETER_NAME,
  phaseProblems,
  type PhaseProblem,
  templateNames,
  type HookSpec,
  type LocationSpec,
  type ParameterSpec,
  type PlanSpec,
  type PodSpec,
  type ServiceSpec,
} from '../engine/index.js';
import { KNOWN_SECRET_NAMES, own } from '../shared/index.js';
import { Value } from '@sinclair/typebox/value';
import { HookSchema, LocationSchema, ParameterSchema, PhaseSchema, PlanSchema, PodSchema, ServiceSchema, type LocationDocument, type PlanDocument, type ServiceDocument } from './schemas.js';
import { YamlFile, type SpecProblem } from './yaml-document.js';

export const DEFAULT_RETRY = { attempts: 3, backoffSeconds: 10, maxBackoffSeconds: 300 } as const;
export const DEFAULT_HOOK_TIMEOUT_SECONDS = 300;

export interface Specs {
  services: Map<string, ServiceSpec>;
  plans: Map<string, PlanSpec>;
  /** Problems that make a file unusable; files with problems are left out of the maps. */
  problems: SpecProblem[];
  /** Plans that do not fit a service (missing pod or hook), by service: the plan is not offered there. */
  unavailable: Map<string, Map<string, string[]>>;
}

function yamlFiles(dir: string, problems: SpecProblem[]): string[] {
  try {
    return readdirSync(dir)
      .filter((name) => ['.yml', '.yaml'].includes(extname(name)))
      .sort()
      .map((name) => join(dir, name));
  } catch (error) {
    problems.push({ file: dir, line: 0, message: `cannot read directory: ${(error as NodeJS.ErrnoException).code ?? String(error)}` });
    return [];
  }
}

function checkName(yaml: YamlFile, name: string, kind: string): void {
  if (name === '') return;
  const expected = basename(yaml.file, extname(yaml.file));
  if (name !== expected) yaml.problem(['name'], `${kind} name '${name}' must match its file name '${expected}'`);
}

function toService(yaml: YamlFile, doc: ServiceDocument, builtins: ReadonlySet<string>): ServiceSpec {
  checkName(yaml, doc.name, 'service');
  const dir = dirname(resolve(yaml.file));
  const pods: Record<string, PodSpec> = {};
  for (const [pod, spec] of Object.entries(doc.pods)) {
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(pod)) yaml.problem(['pods', pod], `pod name '${pod}' must be lower-case letters, digits and dashes`);
    const names = templateNames(spec.dataDir);
    for (const name of names.filter((n) => n !== 'POD_INDEX')) {
      yaml.problem(['pods', pod, 'dataDir'], `dataDir may only use {{POD_INDEX}}, not {{${name}}}`);
    }
    if (spec.count > 1 && !names.includes('POD_INDEX')) {
      yaml.problem(['pods', pod, 'dataDir'], `dataDir must contain {{POD_INDEX}}: the ${spec.count} instances need a directory each`);
    }
    pods[pod] = { count: spec.count, dataDir: isAbsolute(spec.dataDir) ? spec.dataDir : resolve(dir, spec.dataDir), snapshot: spec.snapshot ?? 'hardlink' };
  }
  const hooks: Record<string, HookSpec> = {};
  for (const [name, hook] of Object.entries(doc.hooks ?? {})) {
    if (builtins.has(name)) yaml.problem(['hooks', name], `hook '${name}' has the name of a built-in task`);
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name)) yaml.problem(['hooks', name], `hook name '${name}' must be lower-case letters, digits and dashes`);
    hooks[name] = {
      command: hook.command,
      timeoutSeconds: hook.timeoutSeconds ?? DEFAULT_HOOK_TIMEOUT_SECONDS,
      retryable: hook.retryable ?? true,
    };
  }
  const locations: Record<string, LocationSpec> = {};
  for (const [name, location] of Object.entries(doc.locations ?? {})) {
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name)) yaml.problem(['locations', name], `location name '${name}' must be lower-case letters, digits and dashes`);
    locations[name] = toLocation(yaml, name, location, dir);
  }
  return { name: doc.name, pods, hooks, locations, file: yaml.file, dir };
}

/** Per kind: the fields it needs, and the credential variables it takes (by the plan parameter each stands for). */
const LOCATION_KINDS = {
  s3: {
    needs: ['bucket', 'region'],
    takes: ['bucket', 'region', 'endpoint', 'prefix', 'credentials'],
    credentials: { accessKeyIdEnv: 'AWS_ACCESS_KEY_ID', secretAccessKeyEnv: 'AWS_SECRET_ACCESS_KEY', sessionTokenEnv: 'AWS_SESSION_TOKEN' },
  },
  azure: {
    needs: ['account', 'container'],
    takes: ['account', 'container', 'endpoint', 'prefix', 'credentials'],
    credentials: { accountKeyEnv: 'AZURE_STORAGE_KEY', clientIdEnv: 'CLIENT_ID', tenantIdEnv: 'TENANT_ID', clientSecretEnv: 'CLIENT_SECRET' },
  },
  fs: { needs: ['path'], takes: ['path', 'prefix'], credentials: {} },
} as const satisfies Record<string, { needs: readonly string[]; takes: readonly string[]; credentials: Record<string, string> }>;

/** Credential variables that only work together. */
const CREDENTIAL_GROUPS: ReadonlyArray<{ all: readonly string[]; what: string }> = [
  { all: ['accessKeyIdEnv', 'secretAccessKeyEnv'], what: 'an access key' },
  { all: ['clientIdEnv', 'tenantIdEnv', 'clientSecretEnv'], what: 'a service principal' },
];

function toLocation(yaml: YamlFile, name: string, doc: LocationDocument, dir: string): LocationSpec {
  const at = ['locations', name];
  const kind = LOCATION_KINDS[doc.storage];
  const fields = Object.keys(doc).filter((key) => key !== 'storage' && key !== 'description');
  for (const field of kind.needs.filter((f) => doc[f as keyof LocationDocument] === undefined)) yaml.problem(at, `location ${name} (${doc.storage}) needs ${field}`);
  for (const field of fields.filter((f) => !(kind.takes as readonly string[]).includes(f))) {
    yaml.problem([...at, field], `location ${name}: ${doc.storage} takes no ${field} (it takes ${kind.takes.join(', ')})`);
  }
  const prefix = (doc.prefix ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((segment) => segment === '.' || segment === '..' || (segment === '' && prefix !== ''))) {
    yaml.problem([...at, 'prefix'], `location ${name}: prefix '${doc.prefix ?? ''}' has an empty, '.' or '..' segment`);
  }
  const credentialsEnv: Record<string, string> = {};
  const given = doc.credentials ?? {};
  for (const [field, variable] of Object.entries(given)) {
    const parameter = (kind.credentials as Record<string, string>)[field];
    if (parameter === undefined) {
      const known = Object.keys(kind.credentials);
      yaml.problem([...at, 'credentials', field], `location ${name}: ${doc.storage} credentials take ${known.length === 0 ? 'nothing' : known.join(', ')}, not ${field}`);
    } else if (variable !== undefined) credentialsEnv[parameter] = variable;
  }
  for (const group of CREDENTIAL_GROUPS) {
    const present = group.all.filter((f) => given[f as keyof typeof given] !== undefined);
    if (present.length > 0 && present.length < group.all.length) {
      yaml.problem([...at, 'credentials'], `location ${name}: ${group.what} needs ${group.all.join(', ')} together (only ${present.join(', ')} given)`);
    }
  }
  if (given.accountKeyEnv !== undefined && given.clientIdEnv !== undefined) {
    yaml.problem([...at, 'credentials'], `location ${name}: give accountKeyEnv or the service principal's variables, not both`);
  }
  const container = doc.storage === 's3' ? doc.bucket : doc.storage === 'azure' ? doc.container : doc.path === undefined ? undefined : isAbsolute(doc.path) ? doc.path : resolve(dir, doc.path);
  return {
    name,
    storage: doc.storage,
    container: container ?? '',
    prefix,
    endpoint: doc.endpoint ?? null,
    ...(doc.region === undefined ? {} : { region: doc.region }),
    ...(doc.account === undefined ? {} : { account: doc.account }),
    credentialsEnv,
    line: yaml.lineOf(at),
  };
}

/** Names that hold credentials whatever a plan says: a plan must declare them secret. */
function looksSecret(name: string): boolean {
  return KNOWN_SECRET_NAMES.includes(name) || /SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL/i.test(name);
}

function toParameter(yaml: YamlFile, name: string, raw: NonNullable<PlanDocument['parameters']>[string]): ParameterSpec {
  const at = ['parameters', name];
  if (!PARAMETER_NAME.test(name)) yaml.problem(at, `parameter name '${name}' must match [A-Za-z_][A-Za-z0-9_]*`);
  const spec: ParameterSpec = { required: raw.required ?? false, secret: raw.secret ?? false };
  if (!spec.secret && looksSecret(name)) {
    yaml.problem(at, `parameter ${name} looks like a credential: declare it secret: true, so it is masked and sealed`);
  }
  if (raw.description !== undefined) spec.description = raw.description;
  if (raw.enum !== undefined) spec.enum = raw.enum;
  if (raw.pattern !== undefined) {
    try {
      new RegExp(raw.pattern, 'u');
      spec.pattern = raw.pattern;
    } catch (error) {
      yaml.problem([...at, 'pattern'], `pattern is not a valid regular expression: ${(error as Error).message}`);
    }
  }
  if (raw.default !== undefined) {
    spec.default = raw.default;
    if (spec.required) yaml.problem([...at, 'default'], `parameter ${name} is required and also has a default: drop one`);
    if (spec.secret) yaml.problem([...at, 'default'], `secret parameter ${name} cannot have a default`);
    if (spec.enum !== undefined && !spec.enum.includes(raw.default)) yaml.problem([...at, 'default'], `default '${raw.default}' is not in the enum`);
    if (spec.pattern !== undefined && !new RegExp(spec.pattern, 'u').test(raw.default)) yaml.problem([...at, 'default'], `default '${raw.default}' does not match the pattern`);
  }
  return spec;
}

/**
 * The parts of a document that passed their own schema, so that the meaning checks can run (and
 * report) even when something else in the file is malformed. Phases keep their positions.
 */
function salvagePlan(data: unknown): { doc: PlanDocument; skip: Set<number> } | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  const d = data as Record<string, unknown>;
  const props = PlanSchema.properties;
  const entries = (value: unknown): Array<[string, unknown]> =>
    typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.entries(value) : [];
  const phases = Array.isArray(d['phases']) ? (d['phases'] as unknown[]) : [];
  const skip = new Set(phases.flatMap((phase, i) => (Value.Check(PhaseSchema, phase) ? [] : [i])));
  const doc: PlanDocument = {
    name: typeof d['name'] === 'string' ? d['name'] : '',
    parameters: Object.fromEntries(entries(d['parameters']).filter(([, v]) => Value.Check(ParameterSchema, v))) as PlanDocument['parameters'],
    phases: phases as PlanDocument['phases'],
  };
  if (Value.Check(props.strategy, d['strategy'])) doc.strategy = d['strategy'];
  if (Value.Check(props.requireOneOf, d['requireOneOf'])) doc.requireOneOf = d['requireOneOf'];
  if (Value.Check(props.retry, d['retry'])) doc.retry = d['retry'];
  return { doc, skip };
}

function salvageService(data: unknown): ServiceDocument | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  const d = data as Record<string, unknown>;
  const entries = (value: unknown): Array<[string, unknown]> =>
    typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.entries(value) : [];
  return {
    name: typeof d['name'] === 'string' ? d['name'] : '',
    pods: Object.fromEntries(entries(d['pods']).filter(([, v]) => Value.Check(PodSchema, v))) as ServiceDocument['pods'],
    hooks: Object.fromEntries(entries(d['hooks']).filter(([, v]) => Value.Check(HookSchema, v))) as ServiceDocument['hooks'],
    locations: Object.fromEntries(entries(d['locations']).filter(([, v]) => Value.Check(LocationSchema, v))) as ServiceDocument['locations'],
  };
}

function toPlan(yaml: YamlFile, doc: PlanDocument, builtins: ReadonlySet<string>, skip: ReadonlySet<number> = new Set()): PlanSpec {
  checkName(yaml, doc.name, 'plan');
  const parameters: Record<string, ParameterSpec> = {};
  for (const [name, raw] of Object.entries(doc.parameters ?? {})) parameters[name] = toParameter(yaml, name, raw);

  const checkStrategy = (text: string, path: Array<string | number>): void => {
    for (const name of templateNames(text)) {
      const spec = own(parameters, name);
      if (spec === undefined) yaml.problem(path, `{{${name}}} is not a declared parameter`);
      else if (spec.secret) yaml.problem(path, `{{${name}}} is secret and cannot set a strategy`);
      else if (!spec.required && spec.default === undefined) yaml.problem(path, `{{${name}}} needs a default or required: true to set a strategy`);
      else if (spec.enum?.some((value) => value !== 'serial' && value !== 'parallel')) {
        yaml.problem(path, `{{${name}}} may only take serial or parallel (its enum says ${spec.enum.join(', ')})`);
      }
    }
  };
  checkStrategy(doc.strategy ?? 'serial', ['strategy']);

  const seen = new Set<string>();
  doc.phases.forEach((phase, index) => {
    if (skip.has(index)) return;
    if (seen.has(phase.name)) yaml.problem(['phases', index, 'name'], `phase name '${phase.name}' is used twice`);
    seen.add(phase.name);
    checkStrategy(phase.strategy ?? 'serial', ['phases', index, 'strategy']);
    if (phase.nodes !== undefined) {
      if (phase.pod === undefined) yaml.problem(['phases', index, 'nodes'], 'nodes: selects instances of a pod; the phase walks none (give pod:)');
      for (const name of templateNames(phase.nodes)) {
        const spec = own(parameters, name);
        if (spec === undefined) yaml.problem(['phases', index, 'nodes'], `{{${name}}} is not a declared parameter`);
        else if (spec.secret) yaml.problem(['phases', index, 'nodes'], `{{${name}}} is secret and cannot select nodes`);
      }
    }
    if (phase.optional === true && builtins.has(phase.task)) yaml.problem(['phases', index, 'optional'], `built-in task '${phase.task}' cannot be optional`);
  });
  (doc.requireOneOf ?? []).forEach((group, i) =>
    group.forEach((name, j) => {
      if (own(parameters, name) === undefined) yaml.problem(['requireOneOf', i, j], `${name} is not a declared parameter`);
    }),
  );

  const retry = { ...DEFAULT_RETRY, ...doc.retry };
  if (retry.maxBackoffSeconds < retry.backoffSeconds) yaml.problem(['retry', 'maxBackoffSeconds'], 'maxBackoffSeconds is below backoffSeconds');
  return {
    name: doc.name,
    description: doc.description ?? '',
    parameters,
    requireOneOf: doc.requireOneOf ?? [],
    strategy: doc.strategy ?? 'serial',
    retry,
    phases: doc.phases.flatMap((phase, index) => (skip.has(index) ? [] : [{
      name: phase.name,
      strategy: phase.strategy ?? 'serial',
      ...(phase.pod === undefined ? {} : { pod: phase.pod }),
      task: phase.task,
      ...(phase.nodes === undefined ? {} : { nodes: phase.nodes }),
      optional: phase.optional ?? false,
      finally: phase.finally ?? false,
      line: yaml.lineOf(['phases', index]),
    }])),
    file: yaml.file,
  };
}

/** Valid specs by name, and every spec that could be built at all (for checks across files). */
function load<T>(
  files: string[],
  problems: SpecProblem[],
  build: (yaml: YamlFile) => T | undefined,
  nameOf: (value: T) => string,
): { valid: Map<string, T>; all: T[] } {
  const out = new Map<string, T>();
  const all: T[] = [];
  for (const file of files) {
    const own: SpecProblem[] = [];
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      problems.push({ file, line: 0, message: `cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}` });
      continue;
    }
    const value = build(new YamlFile(file, text, own));
    problems.push(...own);
    if (value === undefined) continue;
    all.push(value);
    if (own.length > 0) continue;
    if (out.has(nameOf(value))) problems.push({ file, line: 1, message: `name '${nameOf(value)}' is used by another file` });
    else out.set(nameOf(value), value);
  }
  return { valid: out, all };
}

/**
 * Reads and checks every service and plan file. Nothing is thrown: problems are collected.
 * `builtins` is the set of tasks drplan implements (tasks/ knows them; the composition root hands them over).
 */
export function loadSpecs(servicesDir: string, plansDir: string, builtins: ReadonlySet<string>): Specs {
  const problems: SpecProblem[] = [];
  const { valid: services } = load(
    yamlFiles(servicesDir, problems),
    problems,
    (yaml) => {
      const doc = yaml.validate(ServiceSchema) ? (yaml.data as ServiceDocument) : salvageService(yaml.data);
      return doc === undefined ? undefined : toService(yaml, doc, builtins);
    },
    (s) => s.name,
  );
  const { valid: plans, all: allPlans } = load(
    yamlFiles(plansDir, problems),
    problems,
    (yaml) => {
      if (yaml.validate(PlanSchema)) return toPlan(yaml, yaml.data as PlanDocument, builtins);
      const salvaged = salvagePlan(yaml.data);
      return salvaged === undefined ? undefined : toPlan(yaml, salvaged.doc, builtins, salvaged.skip);
    },
    (p) => p.name,
  );
  const unavailable = new Map<string, Map<string, string[]>>();
  const fits = new Map<PlanSpec, PhaseProblem[][]>();
  for (const service of services.values()) {
    const misfits = new Map<string, string[]>();
    for (const plan of allPlans) {
      const reasons = phaseProblems(plan, service, builtins);
      if (reasons.length > 0 && plans.get(plan.name) === plan) misfits.set(plan.name, reasons.map((r) => r.message));
      fits.set(plan, [...(fits.get(plan) ?? []), reasons]);
    }
    unavailable.set(service.name, misfits);
  }
  // A plan no service can run is most likely a typo: report it where it is.
  for (const plan of allPlans) {
    const perService = fits.get(plan) ?? [];
    if (perService.length === 0 || perService.some((reasons) => reasons.length === 0)) continue;
    for (const reason of perService.flat()) {
      problems.push({ file: plan.file, line: reason.phase.line ?? 1, message: `${reason.message} (the plan fits no service)` });
    }
  }
  problems.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
  return { services, plans, problems, unavailable };
}

/** Plans a service can run, by name. */
export function plansForService(specs: Specs, service: string): PlanSpec[] {
  const misfits = specs.unavailable.get(service) ?? new Map<string, string[]>();
  return [...specs.plans.values()].filter((plan) => !misfits.has(plan.name));
}
