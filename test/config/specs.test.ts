import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatProblem, loadSpecs, plansForService } from '../../src/config/index.js';
import { tempDir } from '../helpers/tmp.js';
import { builtinTaskNames } from '../../src/tasks/index.js';

const SERVICE = `name: svc
pods:
  node:
    count: 2
    dataDir: data/node-{{POD_INDEX}}
hooks:
  dump:
    command: echo hi
`;

const PLAN = `name: good
parameters:
  MODE: { default: serial, enum: [serial, parallel] }
  NAME: { required: true }
phases:
  - { name: snap, strategy: '{{MODE}}', pod: node, task: snapshot }
  - { name: dump, pod: node, task: dump }
`;

function setup(files: Record<string, string>): { services: string; plans: string } {
  const root = tempDir();
  const services = join(root, 'services');
  const plans = join(root, 'plans');
  mkdirSync(services);
  mkdirSync(plans);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(root, name), text);
  return { services, plans };
}

function problems(files: Record<string, string>): string[] {
  const dirs = setup({ 'services/svc.yml': SERVICE, 'plans/good.yml': PLAN, ...files });
  return loadSpecs(dirs.services, dirs.plans, builtinTaskNames()).problems.map((p) => formatProblem(p).replace(/^.*\/(services|plans)\//, '$1/'));
}

describe('loading services and plans', () => {
  it('loads valid files, resolving dataDir against the services directory', () => {
    const dirs = setup({ 'services/svc.yml': SERVICE, 'plans/good.yml': PLAN });
    const specs = loadSpecs(dirs.services, dirs.plans, builtinTaskNames());
    assert.deepEqual(specs.problems, []);
    const svc = specs.services.get('svc');
    assert.equal(svc?.pods['node']?.dataDir, join(dirs.services, 'data/node-{{POD_INDEX}}'));
    assert.deepEqual(svc?.hooks['dump'], { command: 'echo hi', timeoutSeconds: 300, retryable: true });
    const plan = specs.plans.get('good');
    assert.deepEqual(plan?.parameters['MODE'], { required: false, secret: false, default: 'serial', enum: ['serial', 'parallel'] });
    assert.deepEqual(plan?.retry, { attempts: 3, backoffSeconds: 10, maxBackoffSeconds: 300 });
    assert.deepEqual(plansForService(specs, 'svc').map((p) => p.name), ['good']);
  });

  it("takes each pod's snapshot mode (hardlink by default) and lets a phase walk every pod", () => {
    const dirs = setup({
      'services/svc.yml': SERVICE,
      'services/duo.yml': `name: duo
pods:
  db:
    count: 2
    dataDir: /d/db-{{POD_INDEX}}
    snapshot: copy
  zk:
    count: 1
    dataDir: /d/zk-{{POD_INDEX}}
    snapshot: none
`,
      'plans/good.yml': PLAN,
      'plans/all.yml': `name: all
phases:
  - { name: snap, pod: '*', task: snapshot }
`,
    });
    const specs = loadSpecs(dirs.services, dirs.plans, builtinTaskNames());
    assert.deepEqual(specs.problems, []);
    assert.equal(specs.services.get('svc')?.pods['node']?.snapshot, 'hardlink');
    assert.deepEqual(Object.values(specs.services.get('duo')?.pods ?? {}).map((p) => p.snapshot), ['copy', 'none']);
    assert.deepEqual(plansForService(specs, 'duo').map((p) => p.name), ['all']);
  });

  it('names an unknown snapshot mode and a bad pod reference', () => {
    const found = problems({
      'services/odd.yml': `name: odd
pods:
  node:
    count: 1
    dataDir: /d/odd
    snapshot: zfs
`,
      'plans/stars.yml': `name: stars
phases:
  - { name: snap, pod: '**', task: snapshot }
`,
    });
    assert.deepEqual(found, [
      "plans/stars.yml:3: phases.0.pod: must be a pod's name, or '*' for every pod",
      'services/odd.yml:6: pods.node.snapshot: must be one of hardlink, reflink, copy, none',
    ]);
  });

  it('reports every problem of a file at once, with its line: shape and meaning together', () => {
    const found = problems({
      'plans/bad.yml': `name: bad
colour: blue
parameters:
  X: { required: true, default: a }
  Y: { default: c, enum: [a, b], secret: true }
  2BAD: { }
strategy: '{{MISSING}}'
phases:
  - { name: one, strategy: sideways, task: snapshot, pod: node }
  - { name: one, task: snapshot, pod: node, extra: 1 }
`,
    });
    assert.deepEqual(found, [
      "plans/bad.yml:2: unknown key 'colour'",
      'plans/bad.yml:4: parameter X is required and also has a default: drop one',
      'plans/bad.yml:5: secret parameter Y cannot have a default',
      "plans/bad.yml:5: default 'c' is not in the enum",
      "plans/bad.yml:6: parameter name '2BAD' must match [A-Za-z_][A-Za-z0-9_]*",
      'plans/bad.yml:7: {{MISSING}} is not a declared parameter',
      "plans/bad.yml:9: phases.0.strategy: must be serial, parallel or a '{{PARAMETER}}' reference",
      "plans/bad.yml:10: unknown key 'extra'",
    ]);
  });

  it('checks meaning once the shape is right', () => {
    const found = problems({
      'plans/bad.yml': `name: wrong-name
parameters:
  X: { required: true, default: a }
  Y: { default: c, enum: [a, b] }
  S: { secret: true, default: z }
  2BAD: { }
  P: { pattern: '(' }
requireOneOf: [[X, NOPE]]
strategy: '{{MISSING}}'
phases:
  - { name: one, task: snapshot, pod: node }
  - { name: one, strategy: '{{Y}}', task: snapshot, pod: node }
`,
    });
    assert.deepEqual(found, [
      "plans/bad.yml:1: plan name 'wrong-name' must match its file name 'bad'",
      'plans/bad.yml:3: parameter X is required and also has a default: drop one',
      "plans/bad.yml:4: default 'c' is not in the enum",
      'plans/bad.yml:5: secret parameter S cannot have a default',
      "plans/bad.yml:6: parameter name '2BAD' must match [A-Za-z_][A-Za-z0-9_]*",
      'plans/bad.yml:7: pattern is not a valid regular expression: Invalid regular expression: /(/u: Unterminated group',
      'plans/bad.yml:8: NOPE is not a declared parameter',
      'plans/bad.yml:9: {{MISSING}} is not a declared parameter',
      "plans/bad.yml:12: phase name 'one' is used twice",
      "plans/bad.yml:12: {{Y}} may only take serial or parallel (its enum says a, b)",
    ]);
  });

  it('refuses credential-like parameters that are not declared secret', () => {
    const found = problems({
      'plans/leaky.yml': `name: leaky
parameters:
  AWS_SECRET_ACCESS_KEY: { required: true }
  DB_PASSWORD: { }
  API_TOKEN: { secret: true }
  AWS_ACCESS_KEY_ID: { required: true }
phases:
  - { name: a, pod: node, task: snapshot }
`,
    });
    assert.deepEqual(found, [
      'plans/leaky.yml:3: parameter AWS_SECRET_ACCESS_KEY looks like a credential: declare it secret: true, so it is masked and sealed',
      'plans/leaky.yml:4: parameter DB_PASSWORD looks like a credential: declare it secret: true, so it is masked and sealed',
      'plans/leaky.yml:6: parameter AWS_ACCESS_KEY_ID looks like a credential: declare it secret: true, so it is masked and sealed',
    ]);
  });

  it('reports YAML syntax errors and duplicate keys', () => {
    assert.deepEqual(problems({ 'plans/dup.yml': 'name: dup\nname: again\nphases: []\n' }), ['plans/dup.yml:2: Map keys must be unique']);
    const syntax = problems({ 'plans/broken.yml': 'name: broken\nphases:\n  - { name: a\n' });
    assert.ok(syntax.length > 0 && syntax.every((p) => p.startsWith('plans/broken.yml:')), syntax.join('\n'));
  });

  it('reports missing keys and wrong types where they are', () => {
    assert.deepEqual(problems({ 'services/other.yml': 'name: other\npods:\n  node:\n    count: zero\n' }), [
      "services/other.yml:4: pods.node: missing key 'dataDir'",
      'services/other.yml:4: pods.node.count: Expected integer',
    ]);
  });

  it('checks services: data directories per instance, hook names, all at once', () => {
    const found = problems({
      'services/other.yml': `name: other
pods:
  node: { count: 2, dataDir: '/data/shared/{{NODE}}' }
hooks:
  snapshot: { command: 'true' }
  dump: { command: [] }
`,
    });
    assert.deepEqual(found, [
      'services/other.yml:3: dataDir may only use {{POD_INDEX}}, not {{NODE}}',
      'services/other.yml:3: dataDir must contain {{POD_INDEX}}: the 2 instances need a directory each',
      "services/other.yml:5: hook 'snapshot' has the name of a built-in task",
      'services/other.yml:6: hooks.dump.command: must be a shell command string or a list of arguments',
    ]);
  });

  it('reports a plan that fits no service at the phase that does not fit', () => {
    const found = problems({
      'plans/odd.yml': `name: odd
phases:
  - { name: a, pod: node, task: snapshot }
  - { name: b, pod: broker, task: snapshot }
  - { name: c, pod: node, task: compact }
`,
    });
    assert.deepEqual(found, [
      "plans/odd.yml:4: phase b: service svc has no pod 'broker' (the plan fits no service)",
      "plans/odd.yml:5: phase c: task 'compact' is neither built in nor a hook of service svc (the plan fits no service)",
    ]);
  });

  it('optional hook phases are dropped for services without the hook', () => {
    const dirs = setup({
      'services/svc.yml': SERVICE,
      'services/bare.yml': 'name: bare\npods:\n  node: { count: 1, dataDir: /tmp/x }\n',
      'plans/good.yml': PLAN.replace('task: dump }', 'task: dump, optional: true }'),
    });
    const specs = loadSpecs(dirs.services, dirs.plans, builtinTaskNames());
    assert.deepEqual(specs.problems, []);
    assert.deepEqual(plansForService(specs, 'bare').map((p) => p.name), ['good']);
  });

  it('the shipped services and plans are valid', () => {
    const specs = loadSpecs('services', 'plans', builtinTaskNames());
    assert.deepEqual(specs.problems.map(formatProblem), []);
    assert.deepEqual([...specs.plans.keys()].sort(), ['backup-azure', 'backup-s3', 'restore-azure', 'restore-s3']);
    assert.deepEqual(plansForService(specs, 'demo').length, 4);
    assert.equal(specs.services.get('demo')?.pods['node']?.count, 3);
  });
});

describe('the shipped storage plans', () => {
  it('take a location or the storage parameters, and credentials whole or not at all (the default chain)', async () => {
    const { resolveParameters } = await import('../../src/engine/index.js');
    const { locationProblems } = await import('../../src/tasks/index.js');
    const specs = loadSpecs('services', 'plans', builtinTaskNames());
    const service = specs.services.get('demo')!;
    const problems = (planName: string, input: Record<string, string>): string[] => {
      const plan = specs.plans.get(planName)!;
      const checked = resolveParameters(plan, input);
      return [...checked.problems, ...locationProblems(service, plan, checked.resolved)].map((p) => `${p.parameter} ${p.message}`);
    };
    const base = { SNAPSHOT_NAME: 's', AZURE_STORAGE_ACCOUNT: 'a', CONTAINER_NAME: 'c' };
    assert.deepEqual(problems('backup-azure', { ...base, AZURE_STORAGE_KEY: 'k' }), []);
    assert.deepEqual(problems('backup-azure', { ...base, CLIENT_ID: 'i', TENANT_ID: 't', CLIENT_SECRET: 's' }), []);
    assert.deepEqual(problems('backup-azure', base), [], 'no credentials: DefaultAzureCredential');
    assert.deepEqual(problems('backup-azure', { ...base, CLIENT_ID: 'i' }), [
      'TENANT_ID is needed with CLIENT_ID: give CLIENT_ID, TENANT_ID, CLIENT_SECRET together, or none of them for the default credential chain',
      'CLIENT_SECRET is needed with CLIENT_ID: give CLIENT_ID, TENANT_ID, CLIENT_SECRET together, or none of them for the default credential chain',
    ]);
    assert.deepEqual(problems('restore-s3', { SNAPSHOT_NAME: 's', S3_BUCKET_NAME: 'b', AWS_REGION: 'r' }), [], 'no keys: the AWS default chain');
    assert.deepEqual(problems('restore-s3', { SNAPSHOT_NAME: 's', S3_BUCKET_NAME: 'b', AWS_REGION: 'r', AWS_ACCESS_KEY_ID: 'AKIA' }), [
      'AWS_SECRET_ACCESS_KEY is needed with AWS_ACCESS_KEY_ID: give AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY together, or none of them for the default credential chain',
    ]);
    assert.deepEqual(problems('backup-s3', { SNAPSHOT_NAME: 's' }), [
      'LOCATION is needed: give LOCATION, or S3_BUCKET_NAME + AWS_REGION',
      'S3_BUCKET_NAME is needed: give LOCATION, or S3_BUCKET_NAME + AWS_REGION',
      'AWS_REGION is needed: give LOCATION, or S3_BUCKET_NAME + AWS_REGION',
    ]);
  });
});

describe('locations in a service', () => {
  const withLocations = (locations: string): string => `${SERVICE}locations:\n${locations}`;

  it('are read with where they are and the variables their credentials come from, never a secret', () => {
    const dirs = setup({
      'services/svc.yml': withLocations(`  primary:
    storage: s3
    bucket: backups
    region: eu-west-1
    endpoint: http://127.0.0.1:9000
    prefix: /prod/svc/
    credentials: { accessKeyIdEnv: KEY_ID, secretAccessKeyEnv: SECRET }
  offsite:
    storage: azure
    account: acct
    container: dr
  local:
    storage: fs
    path: backups
`),
      'plans/good.yml': PLAN,
    });
    const specs = loadSpecs(dirs.services, dirs.plans, builtinTaskNames());
    assert.deepEqual(specs.problems, []);
    const locations = specs.services.get('svc')?.locations ?? {};
    assert.deepEqual(Object.keys(locations), ['primary', 'offsite', 'local']);
    assert.deepEqual(
      { ...locations['primary'], line: undefined },
      { name: 'primary', storage: 's3', container: 'backups', prefix: 'prod/svc', endpoint: 'http://127.0.0.1:9000', region: 'eu-west-1', credentialsEnv: { AWS_ACCESS_KEY_ID: 'KEY_ID', AWS_SECRET_ACCESS_KEY: 'SECRET' }, line: undefined },
    );
    assert.deepEqual(locations['offsite']?.credentialsEnv, {}, 'none named: DefaultAzureCredential');
    assert.equal(locations['local']?.container, join(dirs.services, 'backups'), 'relative paths resolve against the services directory');
  });

  it('report every problem with its line: missing fields, fields of another kind, partial credentials, secrets in place of variable names', () => {
    assert.deepEqual(
      problems({
        'services/svc.yml': withLocations(`  primary:
    storage: s3
    bucket: backups
    container: nope
    credentials: { accessKeyIdEnv: KEY_ID }
  Bad_Name:
    storage: azure
    account: a
    container: c
    credentials: { accountKeyEnv: 'Eby8vdM02x+/==', clientIdEnv: ID, tenantIdEnv: T, clientSecretEnv: S }
  other:
    storage: gcs
  dots:
    storage: fs
    path: /b
    prefix: a/../b
`),
      }),
      [
        'services/svc.yml:11: location primary (s3) needs region',
        'services/svc.yml:13: location primary: s3 takes no container (it takes bucket, region, endpoint, prefix, credentials)',
        'services/svc.yml:14: location primary: an access key needs accessKeyIdEnv, secretAccessKeyEnv together (only accessKeyIdEnv given)',
        'services/svc.yml:19: locations.Bad_Name.credentials.accountKeyEnv: must be the name of an environment variable',
        'services/svc.yml:21: locations.other.storage: must be s3, azure or fs',
        "services/svc.yml:25: location dots: prefix 'a/../b' has an empty, '.' or '..' segment",
      ],
      'every problem at once, the malformed locations aside',
    );
    assert.deepEqual(
      problems({
        'services/svc.yml': withLocations(`  primary:
    storage: s3
    bucket: backups
    container: nope
    credentials: { accessKeyIdEnv: KEY_ID }
  Bad_Name:
    storage: azure
    account: a
    container: c
    credentials: { accountKeyEnv: KEY, clientIdEnv: ID, tenantIdEnv: T, clientSecretEnv: S }
  dots:
    storage: fs
    path: /b
    prefix: a/../b
    credentials: { accountKeyEnv: KEY }
`),
      }),
      [
        'services/svc.yml:11: location primary (s3) needs region',
        'services/svc.yml:13: location primary: s3 takes no container (it takes bucket, region, endpoint, prefix, credentials)',
        'services/svc.yml:14: location primary: an access key needs accessKeyIdEnv, secretAccessKeyEnv together (only accessKeyIdEnv given)',
        "services/svc.yml:16: location name 'Bad_Name' must be lower-case letters, digits and dashes",
        "services/svc.yml:19: location Bad_Name: give accountKeyEnv or the service principal's variables, not both",
        "services/svc.yml:23: location dots: prefix 'a/../b' has an empty, '.' or '..' segment",
        'services/svc.yml:24: location dots: fs takes no credentials (it takes path, prefix)',
        'services/svc.yml:24: location dots: fs credentials take nothing, not accountKeyEnv',
      ],
    );
  });
});
