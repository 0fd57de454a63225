// Reading a body someone else sends (a pod's HTTP answer, a request to an agent's API) as input like
// any other: at most `max` bytes of it.

/** The whole body when it is at most `max` bytes; undefined as soon as it is larger (the rest is not read). */
export async function readAtMost(body: AsyncIterable<Uint8Array> | null | undefined, max: number): Promise<Buffer | undefined> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body ?? []) {
    size += chunk.byteLength;
    if (size > max) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
