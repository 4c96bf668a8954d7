import type { RunState, ServiceSpec } from '../../src/engine/index.js';
import { createLogger } from '../../src/shared/index.js';
import { DEFAULT_TASK_SETTINGS, inheritedEnvironment, type TaskContext } from '../../src/tasks/index.js';
import { phase, plan, run, service } from './specs.js';

/** A narrow stand-in for what a worker gives a task: enough to call one task directly. */
export function taskContext(overrides: Partial<Omit<TaskContext, 'run'>> & { run?: RunState; dataDir: string | null }) {
  const messages: string[] = [];
  const bytes: Array<[number, number | null | undefined]> = [];
  const svc: ServiceSpec = overrides.service ?? service(1);
  const state: RunState = overrides.run ?? run(plan([phase('a')]), svc);
  const context: TaskContext = {
    run: state,
    loadRun: () => Promise.resolve(state),
    service: svc,
    stepName: 'node-0:[task]',
    stepGen: 0,
    pod: 'node',
    podIndex: 0,
    parameters: { SNAPSHOT_NAME: 'snap-1' },
    secrets: () => Promise.resolve({}),
    signal: new AbortController().signal,
    progress: { message: (text) => messages.push(text), bytes: (done, total) => bytes.push([done, total]) },
    logger: createLogger({ level: 'silent' }),
    settings: { ...DEFAULT_TASK_SETTINGS, hookEnv: inheritedEnvironment(process.env) },
    ...overrides,
  };
  return { context, messages, bytes };
}
