// The password checker with the word lists the app ships: the zxcvbn-ts lists cut
// at build time (scripts/password-lists.mjs, generated here by the same Vite plugin
// the unit tests use) still refuse the passwords people actually pick.
import { describe, expect, it } from "vitest";
import { PASSWORD_LIST_LIMITS, pack, passwordLists } from "../../scripts/password-lists.mjs";
import { checkPassword, MIN_PASSWORD_SCORE } from "../password";
import { dictionary, unpack } from "../passwordDictionaries";

describe("the shipped word lists", () => {
  it("are the cut lists, unpacked intact", () => {
    const lists = passwordLists();
    expect(dictionary["passwords-common"]).toEqual(lists.passwords);
    expect(dictionary["commonWords-en"]).toEqual(lists.commonWords);
    expect(dictionary["firstnames-en"]).toEqual(lists.firstnames);
    expect(dictionary["passwords-common"]).toHaveLength(PASSWORD_LIST_LIMITS.passwords);
    expect(dictionary["commonWords-en"]).toHaveLength(PASSWORD_LIST_LIMITS.commonWords);
    expect(dictionary["passwords-common"].slice(0, 3)).toEqual(["123456", "password", "12345678"]);
    expect(dictionary["firstnames-en"].every((n) => n.length >= PASSWORD_LIST_LIMITS.firstnamesMinLength)).toBe(true);
  });

  it("pack and unpack round-trip, shared prefixes and apostrophes included", () => {
    const list = ["you", "the", "to", "'s", "it", "it's", "itself", "a", ""];
    expect(unpack(pack(list))).toEqual(list);
    expect(() => pack(["Upper"])).toThrow(/upper-case/);
  });
});

describe("checkPassword", () => {
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
  ])("refuses %s (%s)", async (password) => {
    const verdict = await checkPassword(password);
    expect(verdict.score).toBeLessThan(MIN_PASSWORD_SCORE);
    expect(verdict.acceptable).toBe(false);
  });

  it("refuses a password built from the user inputs", async () => {
    const verdict = await checkPassword("id.example.org2024", ["id.example.org"]);
    expect(verdict.acceptable).toBe(false);
  });

  it.each(["plum-orbit-kettle-31-harbor!", "quartz lantern mosaic violet canyon", "Tz8#qLw2!vRm9xKp"])(
    "accepts a long random passphrase or password: %s",
    async (password) => {
      const verdict = await checkPassword(password);
      expect(verdict.score).toBeGreaterThanOrEqual(MIN_PASSWORD_SCORE);
      expect(verdict.acceptable).toBe(true);
    },
  );

  it("refuses a strong-looking password under 12 characters", async () => {
    const verdict = await checkPassword("Tz8#qLw2!vR");
    expect(verdict.acceptable).toBe(false);
    expect(verdict.suggestions[0]).toMatch(/at least 12 characters/);
  });
});
