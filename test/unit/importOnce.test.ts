import { describe, expect, it } from "vitest";
import { importOnce, importSecretOnce } from "../../src/lib/importOnce";

describe("importOnce", () => {
  it("imports each key once, shared by concurrent first callers", async () => {
    let calls = 0;
    const load = importOnce((s: string) => s, async (s) => `${s}:${++calls}`);
    expect(await Promise.all([load("a"), load("a"), load("b")])).toEqual(["a:1", "a:1", "b:2"]);
    expect(await load("a")).toBe("a:1");
    expect(calls).toBe(2);
  });

  it("forgets a failed import, so the next call tries again", async () => {
    let calls = 0;
    const load = importOnce(
      (s: string) => s,
      async (s) => {
        if (++calls === 1) throw new Error("transient");
        return s;
      },
    );
    await expect(load("k")).rejects.toThrow("transient");
    await expect(load("k")).resolves.toBe("k");
  });

  it("refuses a missing secret by name", async () => {
    const load = importSecretOnce("SOME_KEY", async (s) => s);
    await expect(load(undefined)).rejects.toThrow("SOME_KEY is not set");
    await expect(load("")).rejects.toThrow("SOME_KEY is not set");
  });
});
