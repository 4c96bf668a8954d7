/**
 * Runs `fn` over `items` with at most `limit` calls in flight. On the first error no new call
 * starts, and it rejects with that error once the calls already running have ended (a caller
 * that cleans up after a failure never races its own workers).
 */
export async function forEachLimit<T>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]();
  let failure: { error: unknown } | null = null;
  const worker = async (): Promise<void> => {
    for (let next = iterator.next(); !next.done && failure === null; next = iterator.next()) {
      try {
        await fn(next.value);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (failure !== null) throw (failure as { error: unknown }).error;
}
