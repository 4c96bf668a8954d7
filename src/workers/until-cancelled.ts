import { AppError, errorMessage, type Logger } from '../shared/index.js';

/**
 * The task's result; or, once `signal` fires, its own end if it comes within `graceMs`, else a
 * CANCELLED error: a task stuck in a call that ignores cancellation (a storage request that
 * never returns) must not keep its node's queue blocked. It ends in the background.
 */
export function untilCancelled<T>(task: Promise<T>, signal: AbortSignal, graceMs: number, log: Logger): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      timer = setTimeout(() => {
        log.warn({ graceMs }, 'cancelled task still running: moving on without it');
        reject(signal.reason instanceof Error ? signal.reason : new AppError('CANCELLED', 'cancelled'));
      }, graceMs);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    task.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    });
    task.catch((error: unknown) => log.debug({ err: errorMessage(error) }, 'task ended'));
  });
}

