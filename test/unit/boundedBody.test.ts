import { describe, expect, it } from "vitest";
import { readBoundedBody, readBoundedResponse } from "../../src/lib/boundedBody";

/** A stream of `chunks`, recording how many were pulled and whether it was cancelled. */
function source(chunks: Uint8Array[]) {
  const state = { pulled: 0, cancelled: false as boolean, reason: undefined as unknown };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks[state.pulled];
      if (!next) return controller.close();
      state.pulled++;
      controller.enqueue(next);
    },
    cancel(reason) {
      state.cancelled = true;
      state.reason = reason;
    },
  });
  return { stream, state };
}

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

describe("readBoundedBody", () => {
  it("returns the chunks joined when they fit, up to exactly the bound", async () => {
    const { stream, state } = source([bytes(3, 1), bytes(4, 2), bytes(3, 3)]);
    const out = await readBoundedBody(stream, 10);
    expect(out).toEqual(new Uint8Array([1, 1, 1, 2, 2, 2, 2, 3, 3, 3]));
    expect(state.cancelled).toBe(false);
  });

  it("returns null and cancels the stream as soon as the count passes the bound", async () => {
    const { stream, state } = source([bytes(6), bytes(5), bytes(100), bytes(100)]);
    expect(await readBoundedBody(stream, 10)).toBeNull();
    expect(state.cancelled).toBe(true);
    expect(state.pulled).toBeLessThanOrEqual(3);
    expect(stream.locked).toBe(false);
  });

  it("reads a missing body as empty", async () => {
    expect(await readBoundedBody(null, 10)).toEqual(new Uint8Array(0));
  });

  it("rejects when the stream errors", async () => {
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.error(new Error("connection reset"));
      },
    });
    await expect(readBoundedBody(stream, 10)).rejects.toThrow("connection reset");
  });

  it("still answers null when cancelling fails", async () => {
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(bytes(20));
      },
      cancel() {
        throw new Error("cancel failed");
      },
    });
    expect(await readBoundedBody(stream, 10)).toBeNull();
  });
});

describe("readBoundedResponse", () => {
  it("refuses a declared Content-Length over the bound unread: the body is never wrapped or read", async () => {
    const { stream, state } = source([bytes(4)]);
    let wrapped = false;
    const res = new Response(stream, { headers: { "content-length": "11" } });
    expect(
      await readBoundedResponse(res, 10, (body) => {
        wrapped = true;
        return body;
      }),
    ).toBeNull();
    expect(wrapped).toBe(false);
    expect(state.pulled).toBeLessThanOrEqual(1); // at most what the Response buffered itself
  });

  it("reads a body within the bound through `wrap`, and bounds one whose Content-Length understates it", async () => {
    const fits = source([bytes(3, 7)]);
    let wrapped = 0;
    const wrap = (body: ReadableStream<Uint8Array> | null) => {
      wrapped++;
      return body;
    };
    expect(await readBoundedResponse(new Response(fits.stream, { headers: { "content-length": "3" } }), 10, wrap)).toEqual(new Uint8Array([7, 7, 7]));
    expect(wrapped).toBe(1);
    const understated = source([bytes(6), bytes(6)]);
    expect(await readBoundedResponse(new Response(understated.stream, { headers: { "content-length": "2" } }), 10)).toBeNull();
  });
});
