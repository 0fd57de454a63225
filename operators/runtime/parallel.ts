// Bounded parallelism for bulk API work (creating thousands of Nodes, evicting their pods): at most
// `limit` calls in flight, every item attempted even when some fail, failures returned to the caller.

export interface Settled<T> {
  item: T;
  error: unknown;
}

/** Runs `fn` over `items` with at most `limit` in flight; resolves to the items whose call threw. */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<Settled<T>[]> {
  const failed: Settled<T>[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (error) {
        failed.push({ item, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return failed;
}
