import { describe, expect, it } from "vitest";
import { readBoundedBody } from "../../src/lib/boundedBody";

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
