import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A three-node service whose hooks stand in for real work, and plans that exercise the engine. */
export const SERVICE = `name: svc
pods:
  node:
    count: 3
    dataDir: $ROOT/data/node-{{POD_INDEX}}
hooks:
  work:
    command: 'sleep 0.4; echo "worked on node $POD_INDEX"'
  fail:
    command: 'echo "disk on fire at node $POD_INDEX" >&2; exit 3'
    timeoutSeconds: 10
  slow:
    command: 'echo $$ > "$DATA_DIR/../slow-$POD_INDEX.pid"; exec sleep 60'
  count:
    command: 'echo "$STEP_NAME" >> $ROOT/executions.log; sleep 0.2'
  show-env:
    command: 'env | sort'
  html:
    command: 'echo "<img src=x onerror=alert(1)>"'
  tick:
    command: 'echo "$STEP_NAME start" >> "$DATA_DIR/../ticks.log"; sleep 3; echo "$STEP_NAME end" >> "$DATA_DIR/../ticks.log"'
  hang:
    command: 'echo "stuck"; sleep 30'
    timeoutSeconds: 1
    retryable: false
  dump-env:
    command: 'env > "$DATA_DIR/../env-$POD_INDEX.txt"'
`;

export const PLANS = {
  'flow.yml': `name: flow
parameters:
  MODE: { default: parallel, enum: [serial, parallel] }
retry: { attempts: 2, backoffSeconds: 0.5 }
phases:
  - { name: one-by-one, strategy: serial, pod: node, task: work }
  - { name: all-at-once, strategy: '{{MODE}}', pod: node, task: work }
`,
  'failing.yml': `name: failing
retry: { attempts: 2, backoffSeconds: 1, maxBackoffSeconds: 1 }
phases:
  - { name: doomed, strategy: serial, pod: node, task: fail }
`,
  'long.yml': `name: long
parameters:
  TOKEN: { secret: true }
  LABEL: { default: x }
phases:
  - { name: wait, strategy: parallel, pod: node, task: slow }
`,
  'crash.yml': `name: crash
phases:
  - { name: run, strategy: parallel, pod: node, task: tick }
`,
  'strict.yml': `name: strict
parameters:
  NAME: { required: true, pattern: '^[a-z]+$' }
  LEVEL: { default: low, enum: [low, high] }
  PASSWORD: { required: true, secret: true }
phases:
  - { name: env, strategy: parallel, pod: node, task: dump-env }
`,
  'hanging.yml': `name: hanging
phases:
  - { name: stuck, pod: node, task: hang }
`,
  'counting.yml': `name: counting
phases:
  - { name: serial, strategy: serial, pod: node, task: count }
  - { name: parallel, strategy: parallel, pod: node, task: count }
  - { name: once, task: count }
`,
};

/** The repository's own plan files, by name. */
export function shippedPlans(...names: string[]): Record<string, string> {
  const dir = join(import.meta.dirname, '../../plans');
  return Object.fromEntries(names.map((name) => [`${name}.yml`, readFileSync(join(dir, `${name}.yml`), 'utf8')]));
}

/** A service like demo: three nodes, data under $ROOT, the demo's schema hooks. */
export const DEMO_LIKE = (name = 'svc', count = 3): string => `name: ${name}
pods:
  node:
    count: ${count}
    dataDir: $ROOT/${name}/node-{{POD_INDEX}}
hooks:
  backup-schema:
    command: 'rm -f "$SNAPSHOT_DIR/SCHEMA" && echo "node $POD_INDEX of $SNAPSHOT_NAME" > "$SNAPSHOT_DIR/SCHEMA" && cat "$SNAPSHOT_DIR/SCHEMA"'
  restore-schema:
    command: 'cat "$DATA_DIR/SCHEMA"'
`;

/** A shipped plan under the name `<name>-quick`, retrying after a second, so that retries show within a test. */
export function quickPlan(name: string): Record<string, string> {
  const yaml = shippedPlans(name)[`${name}.yml`] ?? '';
  return { [`${name}-quick.yml`]: yaml.replace(`name: ${name}\n`, `name: ${name}-quick\nretry: { attempts: 3, backoffSeconds: 1, maxBackoffSeconds: 1 }\n`) };
}
