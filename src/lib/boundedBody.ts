/**
 * Reading a body we do not control (a peer's response) without letting it decide
 * how much memory we spend: a Content-Length is only a claim, and a chunked body
 * has none, so the bytes are counted as they arrive.
 */

/**
 * A fetched response's body within `maxBytes`, or null: a declared Content-Length
 * over the bound is refused unread (the body is cancelled); an undeclared (chunked)
 * or understated one is bounded while reading (readBoundedBody). `wrap` adapts the
 * body before it is read (a deadline), only once the length is accepted.
 */
export async function readBoundedResponse(
  res: Response,
  maxBytes: number,
  wrap: (body: ReadableStream<Uint8Array> | null) => ReadableStream<Uint8Array> | null = (body) => body,
): Promise<Uint8Array<ArrayBuffer> | null> {
  if (Number(res.headers.get("content-length") ?? "0") > maxBytes) {
    await res.body?.cancel();
    return null;
  }
  return await readBoundedBody(wrap(res.body), maxBytes);
}

/**
 * Reads `body` to the end, counting bytes as they arrive. Returns the bytes, or
 * `null` as soon as more than `maxBytes` have arrived: the stream is then cancelled
 * (the sender's connection is released and the rest is never read or buffered).
 * At most `maxBytes` plus one chunk is held at any time. A stream that errors
 * rejects, as `Response.arrayBuffer()` would. A missing body is empty.
 */
export async function readBoundedBody(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<Uint8Array<ArrayBuffer> | null> {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        // A failing cancel changes nothing: the answer is already "too large".
        await reader.cancel().catch(() => undefined);
        return null;
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
