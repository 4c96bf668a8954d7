import { dispatchDue, failStep, isInFlight, type RunState, type StepState } from '../engine/index.js';
import type { Producer, StepJob } from '../jobs/index.js';
import { ERROR_CODES, errorMessage, type Logger } from '../shared/index.js';
import type { RunStore } from './run-store.js';

export interface CoordinatorOptions {
  store: RunStore;
  producer: Producer;
  logger: Logger;
  /** How often every active run is looked at, besides change events. @defaultValue 1000 */
  tickMs?: number;
  /** How often running steps are checked against their jobs. @defaultValue 5000 */
  reconcileMs?: number;
  /** @defaultValue Date.now */
  now?: () => number;
}

export interface Coordinator {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Looks at one run now (tests and the events subscription call this). */
  advance(runId: string): Promise<void>;
}

export function stepJob(run: RunState, step: StepState): StepJob {
  return {
    runId: run.id,
    stepId: step.id,
    gen: step.gen,
    attempt: step.attempts,
    service: run.service,
    plan: run.plan,
    step: step.name,
    task: step.task,
    pod: step.pod,
    podIndex: step.podIndex,
  };
}

/**
 * Moves runs forward: hands due steps to their node's queue and notices attempts whose job was
 * lost. Any number may run at once: a step is dispatched by whichever coordinator's
 * compare-and-set lands first, and a job id names one attempt, so adding it twice adds it once.
 */
export function createCoordinator(options: CoordinatorOptions): Coordinator {
  const { store, producer, logger } = options;
  const now = options.now ?? Date.now;
  const tickMs = options.tickMs ?? 1000;
  const reconcileMs = options.reconcileMs ?? 5000;
  const chains = new Map<string, Promise<void>>();
  const pending = new Set<string>();
  const lastReconcile = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let subscription: { close(): Promise<void> } | undefined;
  let stopped = false;

  /**
   * Queues every due step in one write, and settles a run whose last step ended (the update does
   * that by itself). Returns the run as it is now.
   */
  async function dispatch(runId: string): Promise<RunState | null> {
    let dispatched: StepState[] = [];
    const result = await store.update(runId, (current) => {
      const due = dispatchDue(current, now());
      dispatched = due?.steps ?? [];
      return due?.run ?? null;
    });
    if (result === null) return null;
    if (result.changed && dispatched.length > 0) {
      await Promise.all(dispatched.map((step) => producer.enqueue(stepJob(result.run, step))));
      logger.debug({ runId, steps: dispatched.map((step) => step.name) }, 'steps queued');
    }
    return result.run;
  }

  /** A job that failed outside the processor (stalled too often) or vanished is an attempt lost. */
  async function reconcile(run: RunState): Promise<void> {
    for (const step of run.phases.flatMap((p) => p.steps).filter(isInFlight)) {
      const job = stepJob(run, step);
      const status = await producer.status(job);
      if (status.state === 'missing' && step.status === 'STARTING') {
        await producer.enqueue(job);
      } else if (status.state === 'failed' || status.state === 'completed' || status.state === 'missing') {
        const reason =
          status.state === 'failed'
            ? `its worker was lost: ${status.failedReason ?? 'job failed'}`
            : `its job ended without a result (${status.state})`;
        const ref = { runId: run.id, stepId: step.id, gen: step.gen, attempt: step.attempts };
        // The state read may be older than the job's: an attempt that finished meanwhile is not lost.
        const lost = await store.transitionStep(run.id, step.id, (current) =>
          failStep(current, ref, null, { message: reason, retryable: ERROR_CODES.WORKER_LOST.retryable, lost: status.state === 'failed' }, now()),
        );
        if (lost.ok) logger.warn({ runId: run.id, step: step.name, reason }, 'step attempt lost');
      }
    }
  }

  async function advanceNow(runId: string): Promise<void> {
    const run = await dispatch(runId);
    if (run === null) return;
    const last = lastReconcile.get(runId) ?? 0;
    if (now() - last >= reconcileMs) {
      lastReconcile.set(runId, now());
      await reconcile(run);
    }
  }

  /** Serialises work per run; requests made while one is running coalesce into one more pass. */
  function advance(runId: string): Promise<void> {
    if (pending.has(runId)) return chains.get(runId) ?? Promise.resolve();
    pending.add(runId);
    const previous = chains.get(runId) ?? Promise.resolve();
    const next = previous
      .then(async () => {
        pending.delete(runId);
        if (!stopped) await advanceNow(runId);
      })
      .catch((error: unknown) => logger.error({ runId, err: errorMessage(error) }, 'cannot advance run'));
    chains.set(runId, next);
    void next.finally(() => {
      if (chains.get(runId) === next) chains.delete(runId);
    });
    return next;
  }

  async function tick(): Promise<void> {
    try {
      const ids = await store.activeRunIds();
      await Promise.all(ids.map(advance));
      for (const id of lastReconcile.keys()) if (!ids.includes(id)) lastReconcile.delete(id);
    } catch (error) {
      logger.warn({ err: errorMessage(error) }, 'coordinator tick failed');
    }
  }

  return {
    advance,
    async start() {
      subscription = await store.subscribe((runId) => void advance(runId));
      const loop = (): void => {
        timer = setTimeout(() => {
          void tick().finally(() => {
            if (!stopped) loop();
          });
        }, tickMs);
      };
      await tick();
      loop();
      logger.info({ tickMs }, 'coordinator started');
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await subscription?.close();
      await Promise.allSettled([...chains.values()]);
    },
  };
}
