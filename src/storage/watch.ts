import { PassThrough, pipeline, Transform, type Readable } from 'node:stream';
import { AppError, formatDuration } from '../shared/index.js';

/** @defaultValue a minute: long for a store that answers, short for an operator watching a hung step. */
export const DEFAULT_TIMEOUT_MS = 60_000;

export interface Deadline {
  /** Aborts when the caller's signal does, or when `timeoutMs` pass without `touch()`. */
  signal: AbortSignal;
  /** Something answered: the clock starts again. */
  touch(): void;
  /** Whether the clock ran out (rather than the caller cancelling). */
  readonly expired: boolean;
  clear(): void;
}

/** A signal that fires when the store has been silent for `timeoutMs`, or the caller cancels. */
export function deadline(timeoutMs: number, outer?: AbortSignal): Deadline {
  const controller = new AbortController();
  let expired = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      expired = true;
      controller.abort(new Error('timed out'));
    }, timeoutMs);
    timer.unref();
  };
  const onOuter = (): void => controller.abort(outer?.reason);
  if (outer?.aborted === true) controller.abort(outer.reason);
  else outer?.addEventListener('abort', onOuter, { once: true });
  arm();
  return {
    signal: controller.signal,
    touch: () => {
      if (!controller.signal.aborted) arm();
    },
    get expired() {
      return expired;
    },
    clear: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
    },
  };
}

export function timeoutError(what: string, timeoutMs: number): AppError {
  return new AppError('TIMEOUT', `${what}: no answer for ${formatDuration(timeoutMs / 1000)}`);
}

/**
 * Runs one request under a deadline: TIMEOUT when the store stays silent, the caller's
 * cancellation as CANCELLED, anything else through `fail`.
 */
export async function timed<T>(
  what: string,
  timeoutMs: number,
  outer: AbortSignal | undefined,
  run: (signal: AbortSignal, touch: () => void) => Promise<T>,
  fail: (error: unknown) => AppError,
): Promise<T> {
  const clock = deadline(timeoutMs, outer);
  try {
    return await run(clock.signal, () => clock.touch());
  } catch (error) {
    if (clock.expired) throw timeoutError(what, timeoutMs);
    if (outer?.aborted === true) throw new AppError('CANCELLED', `${what}: cancelled`, { cause: error });
    throw fail(error);
  } finally {
    clock.clear();
  }
}

/**
 * A download body that fails with TIMEOUT when no byte arrives for `timeoutMs` (a store that
 * stops sending mid-object), and with CANCELLED when `signal` fires.
 */
export function watchBody(body: Readable, what: string, timeoutMs: number, signal?: AbortSignal): Readable {
  let bytes = 0;
  // The SDKs' own errors on a body (a socket that timed out, a reset) say what happened here.
  const translate = (error: Error): AppError => {
    if (error instanceof AppError) return error;
    if (error.name === 'TimeoutError') return timeoutError(`reading ${what}`, timeoutMs);
    return new AppError('UNAVAILABLE', `reading ${what} failed after ${bytes} bytes: ${error.message}`, { cause: error });
  };
  let timer: NodeJS.Timeout | undefined;
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => out.destroy(timeoutError(`reading ${what}`, timeoutMs)), timeoutMs);
    timer.unref();
  };
  const onAbort = (): void => void out.destroy(new AppError('CANCELLED', `reading ${what}: cancelled`));
  signal?.addEventListener('abort', onAbort, { once: true });
  body.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    arm();
  });
  arm();
  // Wired by hand, not with pipeline: pipeline would fail `out` with the body's raw error
  // before anything could translate it.
  body.once('error', (error) => {
    clearTimeout(timer);
    if (!out.destroyed) out.destroy(translate(error));
  });
  body.once('close', () => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    if (!body.readableEnded && !out.destroyed) out.destroy(new AppError('UNAVAILABLE', `reading ${what} failed after ${bytes} bytes: the connection closed before the object ended`));
  });
  body.pipe(out);
  out.once('close', () => {
    clearTimeout(timer);
    if (!body.destroyed) body.destroy();
  });
  return out;
}

/**
 * `source` counted as it is read. Joined with pipeline, never `.pipe()`: a source that already
 * failed, or fails before anyone reads, still fails the result (a put that waits on it never
 * hangs).
 */
export function counted(source: Readable, onBytes: (bytes: number) => void): Readable {
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      onBytes(bytes);
      done(null, chunk);
    },
  });
  pipeline(source, counter, (error) => {
    if (error) counter.destroy(error);
  });
  return counter;
}

/** A version tag without the quotes some answers put around it: the same object, the same tag. */
export function tag(etag: string | undefined | null): string | null {
  if (etag === undefined || etag === null || etag === '') return null;
  return etag.replace(/^"(.*)"$/, '$1');
}
