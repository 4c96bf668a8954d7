import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { jobIdOf, attemptRef, type StepJob } from './payload.js';
import { queueAddress, queueLabel } from './names.js';

export type JobState = 'missing' | 'waiting' | 'active' | 'delayed' | 'completed' | 'failed' | 'unknown';

const STATES: Record<string, JobState> = {
  waiting: 'waiting',
  prioritized: 'waiting',
  'waiting-children': 'waiting',
  active: 'active',
  delayed: 'delayed',
  completed: 'completed',
  failed: 'failed',
};

export interface JobStatus {
  state: JobState;
  failedReason?: string;
}

/** Adds step jobs to per-node queues and reads their state back. */
export interface Producer {
  enqueue(job: StepJob): Promise<void>;
  status(job: StepJob): Promise<JobStatus>;
  close(): Promise<void>;
}

export interface ProducerOptions {
  connection: Redis;
  /** DRPLAN_QUEUE_PREFIX. */
  prefix: string;
}

export function createProducer(options: ProducerOptions): Producer {
  const queues = new Map<string, Queue>();
  const queueFor = (job: StepJob): Queue => {
    const address = queueAddress(options.prefix, job.service, job.pod, job.podIndex);
    const label = queueLabel(address);
    let queue = queues.get(label);
    if (queue === undefined) {
      queue = new Queue(address.name, { connection: options.connection, prefix: address.prefix });
      queues.set(label, queue);
    }
    return queue;
  };
  return {
    async enqueue(job) {
      await queueFor(job).add(job.task, job, {
        jobId: jobIdOf(attemptRef(job)),
        // Retries are the coordinator's: each attempt is its own job.
        attempts: 1,
        removeOnComplete: { age: 24 * 3600, count: 10_000 },
        removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
      });
    },
    async status(job) {
      const found = await queueFor(job).getJob(jobIdOf(attemptRef(job)));
      if (found === undefined) return { state: 'missing' };
      const state = await found.getState();
      const mapped = STATES[state] ?? 'unknown';
      return mapped === 'failed' ? { state: mapped, failedReason: found.failedReason } : { state: mapped };
    },
    async close() {
      await Promise.all([...queues.values()].map((queue) => queue.close()));
      queues.clear();
    },
  };
}
