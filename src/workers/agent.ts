import { hostname } from 'node:os';
import { Worker, WaitingError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  claimStep,
  completeStep,
  dataDirOf,
  failStep,
  releaseStep,
  type AttemptRef,
  type ServiceSpec,
} from '../engine/index.js';
import { attemptRef, parseStepJob, queueAddress, queueLabel, type StepJob } from '../jobs/index.js';
import { stepToken, type RunStore } from '../runs/index.js';
import { AppError, errorMessage, fromSystemError, type Logger } from '../shared/index.js';
import { DEFAULT_TASK_SETTINGS, resolveTask, type TaskContext, type TaskSettings } from '../tasks/index.js';
import { ProgressTracker } from './progress.js';
import { untilCancelled } from './until-cancelled.js';

/** A queue an agent serves: a pod instance, or a service's service-wide steps (`pod` null). */
export interface NodeRef {
  service: string;
  pod: string | null;
  index: number | null;
}

export interface AgentOptions {
  /** Shared by the workers for commands; each worker opens its own blocking connection from it. */
  connection: Redis;
  /** DRPLAN_QUEUE_PREFIX. */
  prefix: string;
  store: RunStore;
  services: ReadonlyMap<string, ServiceSpec>;
  nodes: NodeRef[];
  logger: Logger;
  /** A step's hold lasts this long without renewal; a dead agent's step is taken over after it. @defaultValue 30000 */
  lockMs?: number;
  /** How often live progress is published (and cancellation noticed). @defaultValue 500 */
  heartbeatMs?: number;
  /** Compression and transfer tuning. @defaultValue DEFAULT_TASK_SETTINGS */
  settings?: TaskSettings;
  /**
   * After a step is cancelled, how long its task may take to wind down before the worker moves
   * on to the next step anyway (a task stuck in a call that ignores cancellation). @defaultValue 3000
   */
  cancelGraceMs?: number;
}

export interface Agent {
  close(): Promise<void>;
}

type Outcome = 'complete' | 'failed' | 'cancelled' | 'stale' | 'released';

/**
 * Runs the steps of the nodes it serves, one at a time per node. While a step runs it publishes
 * progress every heartbeat; a refused heartbeat means the step was stopped, reset or taken
 * over, and the task is aborted.
 */
export function createAgent(options: AgentOptions): Agent {
  const { store, logger } = options;
  const heartbeatMs = options.heartbeatMs ?? 500;
  const lockMs = options.lockMs ?? 30_000;
  const running = new Set<AbortController>();
  let closing = false;

  async function process(job: Job, token: string | undefined, bullSignal: AbortSignal | undefined): Promise<Outcome> {
    const data: StepJob = parseStepJob(job.data);
    const ref: AttemptRef = attemptRef(data);
    const owner = `${hostname()}:${globalThis.process.pid}:${token ?? job.id ?? ''}`;
    const log = logger.child({ runId: data.runId, service: data.service, plan: data.plan, step: data.step, attempt: data.attempt });
    const claim = await store.transitionStep(data.runId, data.stepId, (run) => claimStep(run, ref, owner, Date.now()));
    if (!claim.ok) {
      log.info({ reason: claim.reason }, 'step not run: stale');
      return 'stale';
    }
    if (claim.step.status !== 'STARTED') {
      // The queue handed out again an attempt whose worker died: it was recorded as lost, and the
      // coordinator queues the next attempt.
      log.warn({ status: claim.step.status }, 'attempt lost with its previous worker: recorded');
      return 'stale';
    }
    const run = claim.run;
    const liveToken = stepToken(claim.step);
    const controller = new AbortController();
    running.add(controller);
    const onBullAbort = (): void => controller.abort(new AppError('CANCELLED', 'the worker cancelled the job'));
    bullSignal?.addEventListener('abort', onBullAbort, { once: true });
    const tracker = new ProgressTracker('running');
    let beating = false;
    const heartbeat = setInterval(() => {
      if (beating) return;
      beating = true;
      store
        .heartbeat(data.runId, data.stepId, liveToken, tracker.snapshot(Date.now()))
        .then((current) => {
          if (!current && !controller.signal.aborted) {
            log.info('step was stopped, reset or taken over: cancelling');
            controller.abort(new AppError('CANCELLED', 'the step was stopped or reset'));
          }
        })
        .catch((error: unknown) => log.warn({ err: errorMessage(error) }, 'cannot publish progress'))
        .finally(() => (beating = false));
    }, heartbeatMs);

    try {
      const service = options.services.get(data.service);
      if (service === undefined) throw new AppError('CONFIG', `this agent does not know service ${data.service}`);
      const context: TaskContext = {
        run,
        loadRun: async () => {
          const whole = await store.load(data.runId);
          if (whole === null) throw new AppError('CANCELLED', `run ${data.runId} no longer exists`);
          return whole;
        },
        service,
        stepName: data.step,
        stepGen: data.gen,
        pod: data.pod,
        podIndex: data.podIndex,
        dataDir: data.pod === null || data.podIndex === null ? null : dataDirOf(service, data.pod, data.podIndex),
        parameters: run.parameters,
        secrets: () => store.secrets(run),
        signal: controller.signal,
        progress: tracker,
        logger: log,
        settings: options.settings ?? DEFAULT_TASK_SETTINGS,
      };
      log.info('step started');
      const output = await untilCancelled(resolveTask(service, data.task)(context), controller.signal, options.cancelGraceMs ?? 3000, log);
      clearInterval(heartbeat);
      const done = await store.transitionStep(data.runId, data.stepId, (current) =>
        completeStep(
          current,
          ref,
          owner,
          {
            message: output.message,
            progress: output.progress ?? tracker.snapshot(Date.now()).progress,
            result: output.result,
            ...(output.catalog === undefined ? {} : { snapshot: output.catalog.name }),
          },
          Date.now(),
        ),
      );
      if (done.ok && output.catalog !== undefined) await store.recordSnapshot(output.catalog, output.manifest);
      log.info({ recorded: done.ok }, 'step complete');
      return done.ok ? 'complete' : 'stale';
    } catch (error) {
      clearInterval(heartbeat);
      if (closing) {
        await store.transitionStep(data.runId, data.stepId, (current) => releaseStep(current, ref, owner, 'waiting for an agent: the previous one shut down'));
        if (token !== undefined) await job.moveToWait(token);
        log.info('step handed back: agent shutting down');
        throw new WaitingError();
      }
      if (controller.signal.aborted) {
        log.info({ reason: errorMessage(controller.signal.reason) }, 'step cancelled');
        return 'cancelled';
      }
      // The one error table decides: a code says whether another attempt may help.
      const failure = fromSystemError(error, 'the task failed');
      const message = failure.message;
      const retryable = failure.retryable;
      const failed = await store.transitionStep(data.runId, data.stepId, (current) =>
        failStep(current, ref, owner, { message, retryable, progress: tracker.snapshot(Date.now()).progress }, Date.now()),
      );
      log.warn({ err: message, retryable, recorded: failed.ok }, 'step attempt failed');
      return 'failed';
    } finally {
      clearInterval(heartbeat);
      bullSignal?.removeEventListener('abort', onBullAbort);
      running.delete(controller);
    }
  }

  const workers = options.nodes.map((node) => {
    const address = queueAddress(options.prefix, node.service, node.pod, node.index);
    const worker = new Worker(address.name, process, {
      connection: options.connection,
      prefix: address.prefix,
      concurrency: 1,
      lockDuration: lockMs,
      stalledInterval: Math.max(1000, Math.floor(lockMs / 2)),
      maxStalledCount: 2,
    });
    worker.on('error', (error) => logger.warn({ queue: queueLabel(address), err: error.message }, 'worker error'));
    logger.info({ queue: queueLabel(address) }, 'serving queue');
    return worker;
  });

  return {
    async close() {
      closing = true;
      for (const controller of running) controller.abort(new AppError('CANCELLED', 'the agent is shutting down'));
      await Promise.all(workers.map((worker) => worker.close()));
    },
  };
}
