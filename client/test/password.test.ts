import { createHash } from "node:crypto";
// The password checker with the word lists the app ships: the very text of the data
// file the build writes to dist/web (scripts/password-lists.mjs), read through the
// SDK's own parser, so these verdicts are the app's. The lists are whole, so the
// leaked passwords that a cut list let through are refused again.
import { describe, expect, it } from "vitest";
import { pack, passwordLists, passwordListsAsset, passwordListsJson } from "../../scripts/password-lists.mjs";
import { isIndieError } from "../errors";
import { memoryKeyStore } from "../keystore";
import { OwnerClient } from "../owner";
import { createPasswordChecker, MIN_PASSWORD_SCORE } from "../password";
import { fetchPasswordLists, parsePasswordListsFile, unpack, type PasswordLists } from "../passwordLists";

const shippedLists = async (): Promise<PasswordLists> => parsePasswordListsFile(JSON.parse(passwordListsJson()));
const checker = createPasswordChecker(shippedLists);

describe("the password lists' data file", () => {
  it("holds the whole upstream lists, in their order (the rank zxcvbn uses)", async () => {
    const lists = await shippedLists();
    const upstream = passwordLists();
    expect(lists).toEqual(upstream);
    expect(lists.passwords).toHaveLength(49_233);
    expect(lists.diceware).toHaveLength(7_776);
    expect(lists.commonWords).toHaveLength(55_830);
    expect(lists.firstnames).toHaveLength(4_945);
    expect(lists.passwords.slice(0, 3)).toEqual(["123456", "password", "12345678"]);
  });

  it("is named after its content, and carries its sha384 for Subresource Integrity", () => {
    const asset = passwordListsAsset();
    expect(asset.fileName).toMatch(/^password-lists\.[0-9a-f]{16}\.json$/);
    expect(asset.contents).toBe(passwordListsJson());
    expect(asset.integrity).toBe(`sha384-${createHash("sha384").update(asset.contents, "utf8").digest("base64")}`);
  });

  it("pack and unpack round-trip, shared prefixes and apostrophes included", () => {
    const list = ["you", "the", "to", "'s", "it", "it's", "itself", "a", ""];
    expect(unpack(pack(list))).toEqual(list);
    expect(() => pack(["Upper"])).toThrow(/upper-case/);
  });

  it("is refused when it is not the format, or a list is missing or empty", () => {
    const file = JSON.parse(passwordListsJson()) as { format: number; lists: Record<string, string> };
    expect(() => parsePasswordListsFile({ ...file, format: 2 })).toThrow(/format 1/);
    expect(() => parsePasswordListsFile(null)).toThrow(/format 1/);
    expect(() => parsePasswordListsFile({ format: 1, lists: { ...file.lists, diceware: undefined } })).toThrow(/"diceware"/);
    expect(() => parsePasswordListsFile({ format: 1, lists: { ...file.lists, passwords: "" } })).toThrow(/"passwords" is missing, empty/);
  });
});

describe("checkPassword with the whole lists", () => {
  // Each is refused by zxcvbn's score, not only by the 12-character minimum.
  it.each([
    ["password1", "a top-10 password and a digit"],
    ["iloveyou2", "a top-100 password and a digit"],
    ["password1234", "12 characters: a common password and a sequence"],
    ["iloveyou2024", "12 characters: a common password and a year"],
    ["jennifer1987", "a first name from the passwords list and a year"],
    ["gwendolyn1987", "a first name only the names list has, and a year"],
    ["stephanie2001", "a first name only the names list has, and a year"],
    ["1qaz2wsx3edc", "a keyboard walk (the adjacency graphs)"],
    // Let through (score 3 or 4) when only the top 1,000 passwords shipped:
    ["leavemealone", "a leaked password of 12 characters, as is (rank 4,252)"],
    ["sonyericsson", "a leaked password of 12 characters, as is (rank 6,440)"],
    ["mailcreated5240", "a leaked password of 15 characters, as is (rank 2,206)"],
    ["serenity1987", "a leaked password (rank 1,005) and a year"],
    ["pavilion1987", "a leaked password (rank 1,024) and a year"],
  ])("refuses %s (%s)", async (password) => {
    const verdict = await checker.check(password);
    expect(verdict.score).toBeLessThan(MIN_PASSWORD_SCORE);
    expect(verdict.acceptable).toBe(false);
  });

  it("says a leaked password is one", async () => {
    expect((await checker.check("sonyericsson")).warning).toMatch(/commonly used password/);
  });

  it("refuses a password built from the user inputs", async () => {
    const verdict = await checker.check("id.example.org2024", ["id.example.org"]);
    expect(verdict.acceptable).toBe(false);
  });

  it.each(["plum-orbit-kettle-31-harbor!", "quartz lantern mosaic violet canyon", "Tz8#qLw2!vRm9xKp"])(
    "accepts a long random passphrase or password: %s",
    async (password) => {
      const verdict = await checker.check(password);
      expect(verdict.score).toBeGreaterThanOrEqual(MIN_PASSWORD_SCORE);
      expect(verdict.acceptable).toBe(true);
    },
  );

  it("refuses a strong-looking password under 12 characters", async () => {
    const verdict = await checker.check("Tz8#qLw2!vR");
    expect(verdict.acceptable).toBe(false);
    expect(verdict.suggestions[0]).toMatch(/at least 12 characters/);
  });
});

describe("a checker whose lists do not load", () => {
  it("accepts nothing, says why, and tries the loader again on the next call", async () => {
    let calls = 0;
    const flaky = createPasswordChecker(async () => {
      calls++;
      if (calls === 1) throw new TypeError("Failed to fetch");
      return shippedLists();
    });
    expect(flaky.state).toBe("idle");
    const failure = await flaky.check("plum-orbit-kettle-31-harbor!").catch((err: unknown) => err);
    expect(isIndieError(failure, "password_check_unavailable")).toBe(true);
    expect(flaky.state).toBe("failed");
    await flaky.load();
    expect(flaky.state).toBe("ready");
    expect((await flaky.check("plum-orbit-kettle-31-harbor!")).acceptable).toBe(true);
    expect(calls).toBe(2);
  });

  it("refuses empty or malformed lists from a loader", async () => {
    const empty = createPasswordChecker(async () => ({ passwords: [], diceware: [], commonWords: [], firstnames: [] }));
    await expect(empty.check("plum-orbit-kettle-31-harbor!")).rejects.toMatchObject({ code: "password_check_unavailable" });
    const malformed = createPasswordChecker(async () => ({ passwords: ["a"] }) as unknown as PasswordLists);
    await expect(malformed.load()).rejects.toMatchObject({ code: "password_check_unavailable" });
  });

  it("fetchPasswordLists: an HTTP error is password_check_unavailable, a good file parses", async () => {
    const missing = createPasswordChecker(fetchPasswordLists("https://id.example.test/password-lists.json", async () => new Response("{}", { status: 404 })));
    await expect(missing.load()).rejects.toMatchObject({ code: "password_check_unavailable", message: /HTTP 404/ });
    let asked = "";
    const served = fetchPasswordLists("https://id.example.test/password-lists.json", async (input) => {
      asked = String(input);
      return new Response(passwordListsJson(), { headers: { "content-type": "application/json" } });
    });
    expect((await served()).passwords).toHaveLength(49_233);
    expect(asked).toBe("https://id.example.test/password-lists.json");
  });

  it("fetchPasswordLists with integrity: the file as built loads, a tampered one is refused (fetch's own SRI check)", async () => {
    // Node's fetch checks `integrity` as browsers do; a data: URL stands in for the served file.
    const asset = passwordListsAsset();
    const urlOf = (text: string) => `data:application/json,${encodeURIComponent(text)}`;
    let init: RequestInit | undefined;
    const spy = (input: RequestInfo | URL, i?: RequestInit) => {
      init = i;
      return fetch(input, i);
    };
    expect((await fetchPasswordLists(urlOf(asset.contents), spy, asset.integrity)()).passwords).toHaveLength(49_233);
    expect(init?.integrity).toBe(asset.integrity);

    // The same format, one list changed: it would parse, and pass "password" as a fine choice.
    const file = JSON.parse(asset.contents) as { format: number; lists: Record<string, string> };
    const tampered = JSON.stringify({ ...file, lists: { ...file.lists, passwords: pack(["zzzzzzzz"]) } });
    expect(parsePasswordListsFile(JSON.parse(tampered)).passwords).toEqual(["zzzzzzzz"]);
    const checker = createPasswordChecker(fetchPasswordLists(urlOf(tampered), undefined, asset.integrity));
    await expect(checker.check("password")).rejects.toMatchObject({ code: "password_check_unavailable" });
    // Without integrity the same file is taken: the check above is what refuses it.
    expect((await fetchPasswordLists(urlOf(tampered))()).passwords).toEqual(["zzzzzzzz"]);
  });
});

describe("OwnerClient's own check (claim, changePassword)", () => {
  const offline = async () => {
    throw new Error("no network in this test");
  };

  it("refuses to claim without a password checker: never unchecked", async () => {
    const client = new OwnerClient({ origin: "https://id.example.test", fetch: offline, keyStore: memoryKeyStore() });
    await expect(client.claim({ setupCode: "x", password: "plum-orbit-kettle-31-harbor!" })).rejects.toMatchObject({
      code: "password_check_unavailable",
    });
  });

  it("refuses a leaked password with the app's checker", async () => {
    const client = new OwnerClient({ origin: "https://id.example.test", fetch: offline, keyStore: memoryKeyStore(), passwordChecker: checker });
    await expect(client.claim({ setupCode: "x", password: "sonyericsson" })).rejects.toMatchObject({ code: "weak_password" });
  });
});
