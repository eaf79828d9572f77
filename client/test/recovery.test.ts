import { createHash } from "node:crypto";
import { calculateJwkThumbprint, importJWK, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { signingJwkSchema } from "../../src/schemas/api";
import { decodeBase32, encodeBase32, normalizeBase32 } from "../recovery/base32";
import { RecoveryError, type RecoveryErrorCode } from "../recovery/errors";
import {
  deriveRecoveryKeys,
  formatRecoveryKey,
  generateRecoveryKey,
  parseRecoveryKey,
  recoverySheet,
  signRecoveryAssertion,
} from "../recovery/recoveryKey";
import { combineShares, splitRecoveryKey, splitShares, SHARE_CODE_LENGTH, type RecoveryShare } from "../recovery/shares";

const HOST = "id.example.org";
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

async function recoveryFailure(promise: Promise<unknown>, code: RecoveryErrorCode): Promise<RecoveryError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RecoveryError);
  expect((err as RecoveryError).code).toBe(code);
  return err as RecoveryError;
}

/** Every subset of {0…n-1} of the given size. */
function subsets(n: number, size: number): number[][] {
  if (size === 0) return [[]];
  const out: number[][] = [];
  for (let first = 0; first <= n - size; first++) {
    for (const rest of subsets(n - first - 1, size - 1)) out.push([first, ...rest.map((i) => i + first + 1)]);
  }
  return out;
}

/** Replaces the character at `position` of the share's code (after prefix and host) with another alphabet character. */
function typo(share: string, position: number): string {
  const [prefix, host, ...code] = share.split(" ");
  const chars = [...code.join(" ")];
  let seen = -1;
  for (let i = 0; i < chars.length; i++) {
    if (chars[i] === "-" || chars[i] === " ") continue;
    if (++seen === position) {
      chars[i] = ALPHABET[(ALPHABET.indexOf(chars[i]!) + 1 + (position % 31)) % 32]!;
      break;
    }
  }
  return [prefix, host, chars.join("")].join(" ");
}

describe("the recovery key's derived keys", () => {
  it("derives the same verifier and unlock key from the same key, non-extractable, with the protocol's kids", async () => {
    const key = generateRecoveryKey();
    const a = await deriveRecoveryKeys(key);
    const b = await deriveRecoveryKeys(key);
    expect(a.verifier.publicJwk).toEqual(b.verifier.publicJwk);
    expect(a.unlockKey.publicJwk).toEqual(b.unlockKey.publicJwk);
    expect(a.keyCheck).toEqual(b.keyCheck);
    expect(a.verifier.privateKey.extractable).toBe(false);
    expect(a.unlockKey.privateKey.extractable).toBe(false);
    expect(signingJwkSchema.parse(a.verifier.publicJwk)).toEqual(a.verifier.publicJwk);
    expect(a.verifier.kid).toBe(await calculateJwkThumbprint({ kty: "OKP", crv: "Ed25519", x: a.verifier.publicJwk.x }, "sha256"));
    expect(a.unlockKey.kid).toBe(`recovery:${a.verifier.kid}`);
    expect(key.some((byte) => byte !== 0)).toBe(true); // the caller's key is left intact
    const other = await deriveRecoveryKeys(generateRecoveryKey());
    expect(other.verifier.kid).not.toBe(a.verifier.kid);
  });

  it("signs a §4 assertion that verifies under the verifier's public JWK", async () => {
    const { verifier } = await deriveRecoveryKeys(generateRecoveryKey());
    const nowMs = Date.UTC(2026, 11, 2, 8, 0, 0);
    const jws = await signRecoveryAssertion(verifier, { aud: "https://id.example.org", nonce: "challenge-123", nowMs });
    const { payload, protectedHeader } = await jwtVerify(jws, await importJWK(verifier.publicJwk, "Ed25519"), {
      audience: "https://id.example.org",
      currentDate: new Date(nowMs),
    });
    expect(protectedHeader).toMatchObject({ alg: "Ed25519", typ: "JWT", kid: verifier.kid });
    expect(payload.nonce).toBe("challenge-123");
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(300);
  });
});

describe("the recovery sheet", () => {
  it("round-trips through the sheet's text, whatever the spacing, dashes and case", async () => {
    const key = generateRecoveryKey();
    const code = await formatRecoveryKey(key);
    expect(code).toMatch(/^([0-9A-HJKMNP-TV-Z]{4}-){13}[0-9A-HJKMNP-TV-Z]{4}$/);
    expect(await parseRecoveryKey(code)).toEqual(key);
    expect(await parseRecoveryKey(code.toLowerCase().replace(/-/g, " "))).toEqual(key);
    expect(await parseRecoveryKey(`  ${code.replace(/-/g, "")}\n`)).toEqual(key);
    // Crockford's aliases: O reads as 0, I and L as 1.
    expect(await parseRecoveryKey(code.replace(/0/g, "O").replace(/1/g, "l"))).toEqual(key);
  });

  it("prints the host, the date and the key in groups", async () => {
    const key = generateRecoveryKey();
    const sheet = await recoverySheet(key, { origin: `https://${HOST}`, nowMs: Date.UTC(2026, 11, 2) });
    expect(sheet.host).toBe(HOST);
    expect(sheet.createdOn).toBe("2026-12-02");
    expect(sheet.groups).toHaveLength(14);
    expect(sheet.text).toContain(`for ${HOST}\n`);
    expect(sheet.text).toContain(`at https://${HOST} if`);
    expect(sheet.text).toContain("2026-12-02");
    expect(await parseRecoveryKey(sheet.groups.join(" "))).toEqual(key);
  });

  it("names the instance's own origin, so a local instance's sheet says http", async () => {
    const sheet = await recoverySheet(generateRecoveryKey(), { origin: "http://localhost:8787" });
    expect(sheet.host).toBe("localhost:8787");
    expect(sheet.text).toContain("at http://localhost:8787 if");
  });

  it("refuses every one-character typo, and a missing or extra character", async () => {
    const key = generateRecoveryKey();
    const code = normalizeBase32(await formatRecoveryKey(key));
    for (let i = 0; i < code.length; i++) {
      for (const shift of [1, 7, 16]) {
        const wrong = code.slice(0, i) + ALPHABET[(ALPHABET.indexOf(code[i]!) + shift) % 32] + code.slice(i + 1);
        await recoveryFailure(parseRecoveryKey(wrong), "checksum");
      }
    }
    await recoveryFailure(parseRecoveryKey(code.slice(1)), "malformed");
    await recoveryFailure(parseRecoveryKey(code + "0"), "malformed");
    const err = await recoveryFailure(parseRecoveryKey("U" + code.slice(1)), "malformed");
    expect(err.message).toContain('"U"');
  });
});

describe("recovery shares", () => {
  it("recover the key from k shares, for every 2 ≤ k ≤ n ≤ 10", async () => {
    for (let n = 2; n <= 10; n++) {
      for (let k = 2; k <= n; k++) {
        const key = generateRecoveryKey();
        const shares = await splitRecoveryKey(key, { threshold: k, total: n, host: HOST });
        expect(shares.map((s) => s.index)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
        expect(new Set(shares.map((s) => s.setId)).size).toBe(1);
        // The first k, the last k (reversed), and all n.
        expect(await combineShares(shares.slice(0, k).map((s) => s.text))).toEqual(key);
        expect(await combineShares(shares.slice(n - k).reverse().map((s) => s.text))).toEqual(key);
        expect(await combineShares(shares.map((s) => s.text))).toEqual(key);
      }
    }
  });

  it("recover the key from every subset of at least k shares (exhaustive for n ≤ 6)", async () => {
    for (let n = 2; n <= 6; n++) {
      for (let k = 2; k <= n; k++) {
        const key = generateRecoveryKey();
        const shares = await splitRecoveryKey(key, { threshold: k, total: n, host: HOST });
        for (let size = k; size <= n; size++) {
          for (const subset of subsets(n, size)) expect(await combineShares(subset.map((i) => shares[i]!.text))).toEqual(key);
        }
      }
    }
  });

  it("refuse every subset of fewer than k shares, saying how many are needed (exhaustive up to n = 10)", async () => {
    let checked = 0;
    for (let n = 2; n <= 10; n++) {
      for (let k = 2; k <= n; k++) {
        const shares = await splitRecoveryKey(generateRecoveryKey(), { threshold: k, total: n, host: HOST });
        for (let size = 1; size < k; size++) {
          for (const subset of subsets(n, size)) {
            const err = await recoveryFailure(combineShares(subset.map((i) => shares[i]!.text)), "too_few_shares");
            expect(err.message).toContain(`needs ${k} of its ${n}`);
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(3000);
  });

  it("catch a one-character typo anywhere in a share by its checksum, and name the share", async () => {
    const shares = await splitRecoveryKey(generateRecoveryKey(), { threshold: 2, total: 3, host: HOST });
    expect(shares[0]!.text.split(" ")[2]!.replace(/-/g, "")).toHaveLength(SHARE_CODE_LENGTH);
    for (let position = 0; position < SHARE_CODE_LENGTH; position++) {
      const err = await recoveryFailure(combineShares([shares[0]!.text, typo(shares[1]!.text, position)]), "checksum");
      expect(err.details.item).toBe(2);
      expect(err.message).toContain("Share 2");
    }
    // A typo in the host is a typo too: the checksum covers it.
    await recoveryFailure(combineShares([shares[0]!.text.replace(HOST, "id.exanple.org"), shares[1]!.text]), "checksum");
  });

  it("tolerate spacing, line breaks and case in a share", async () => {
    const key = generateRecoveryKey();
    const shares = await splitRecoveryKey(key, { threshold: 2, total: 2, host: HOST });
    const [prefix, host, code] = shares[0]!.text.split(" ");
    const messy = `  ${prefix!.toUpperCase()}   ${host!.toUpperCase()}\n${code!.toLowerCase().replace(/-/g, " ")}\n`;
    expect(await combineShares([messy, shares[1]!.printable.split("\n").slice(4).join("\n")])).toEqual(key);
  });

  it("never combine shares of two sets, even of the same key", async () => {
    const key = generateRecoveryKey();
    const a = await splitRecoveryKey(key, { threshold: 2, total: 3, host: HOST });
    const b = await splitRecoveryKey(key, { threshold: 2, total: 3, host: HOST });
    const c = await splitRecoveryKey(generateRecoveryKey(), { threshold: 2, total: 3, host: HOST });
    const err = await recoveryFailure(combineShares([a[0]!.text, b[1]!.text]), "different_sets");
    expect(err.details.item).toBe(2);
    await recoveryFailure(combineShares([a[0]!.text, c[1]!.text]), "different_sets");
    const otherHost = await splitRecoveryKey(key, { threshold: 2, total: 3, host: "other.example" });
    await recoveryFailure(combineShares([a[0]!.text, otherHost[1]!.text]), "different_sets");
    await recoveryFailure(combineShares([a[0]!.text, a[1]!.text], { host: "other.example" }), "different_sets");
    expect(await combineShares([a[0]!.text, a[1]!.text], { host: HOST.toUpperCase() })).toEqual(key);
  });

  it("count a share entered twice once", async () => {
    const shares = await splitRecoveryKey(generateRecoveryKey(), { threshold: 2, total: 3, host: HOST });
    const err = await recoveryFailure(combineShares([shares[2]!.text, shares[2]!.text.toLowerCase()]), "duplicate_share");
    expect(err.details).toMatchObject({ item: 2, shareIndex: 3 });
  });

  it("never yield a wrong key: a share altered with a recomputed checksum is caught by the key check", async () => {
    const key = generateRecoveryKey();
    const shares = await splitRecoveryKey(key, { threshold: 2, total: 3, host: HOST });
    const forged = reforge(shares[1]!, (payload) => {
      payload[12] = payload[12]! ^ 0x01; // the first y byte of the Shamir share
    });
    await recoveryFailure(combineShares([shares[0]!.text, forged]), "combine_failed");
  });

  it("follow docs/recovery-format.md byte for byte", async () => {
    const key = generateRecoveryKey();
    const [share] = await splitRecoveryKey(key, { threshold: 3, total: 5, host: HOST });
    const bytes = decodeBase32(normalizeBase32(share!.text.split(" ")[2]!), 50)!;
    const payload = bytes.subarray(0, 45);
    expect([...payload.subarray(0, 4)]).toEqual([1, 3, 5, 1]);
    expect(encodeBase32(payload.subarray(4, 8))).toBe(share!.setId);
    expect(payload.subarray(8, 12)).toEqual((await deriveRecoveryKeys(key)).keyCheck);
    const digest = createHash("sha256").update(`indienet-share-1\0${HOST}\0`).update(payload).digest();
    expect(Buffer.from(bytes.subarray(45))).toEqual(digest.subarray(0, 5));
    expect(share!.printable).toContain(`Indienet recovery share 1 of 5 for ${HOST}`);
    expect(share!.printable).toContain("Any 3 of the 5");
  });

  it("refuse malformed input and other versions with clear errors", async () => {
    const [share] = await splitRecoveryKey(generateRecoveryKey(), { threshold: 2, total: 2, host: HOST });
    await recoveryFailure(combineShares([share!.text.replace("indienet-share-1", "indienet-share-2"), share!.text]), "unsupported_version");
    await recoveryFailure(combineShares(["hello world", share!.text]), "malformed");
    await recoveryFailure(combineShares([share!.text.slice(0, -3), share!.text]), "malformed");
    await recoveryFailure(combineShares([]), "too_few_shares");
    await expect(splitRecoveryKey(generateRecoveryKey(), { threshold: 1, total: 3, host: HOST })).rejects.toThrow(RangeError);
    await expect(splitRecoveryKey(generateRecoveryKey(), { threshold: 4, total: 3, host: HOST })).rejects.toThrow(RangeError);
    await expect(splitRecoveryKey(generateRecoveryKey(), { threshold: 2, total: 11, host: HOST })).rejects.toThrow(RangeError);
  });
});

/** Re-encodes a share after `edit` changed its payload, with a valid checksum (what a malicious holder could do). */
function reforge(share: RecoveryShare, edit: (payload: Uint8Array) => void): string {
  const bytes = decodeBase32(normalizeBase32(share.text.split(" ")[2]!), 50)!;
  const payload = bytes.subarray(0, 45);
  edit(payload);
  const digest = createHash("sha256").update(`indienet-share-1\0${share.host}\0`).update(payload).digest();
  bytes.set(digest.subarray(0, 5), 45);
  return `indienet-share-1 ${share.host} ${encodeBase32(bytes)}`;
}

describe("splitShares (shares as a person types or pastes them)", () => {
  it("reads shares as printed, one per line, and skips the sheet's other lines", async () => {
    const key = generateRecoveryKey();
    const shares = await splitRecoveryKey(key, { threshold: 2, total: 3, host: HOST });
    // As printed: heading, notes, the first line, then rows of code groups.
    const printed = `${shares[0]!.printable}\n\n${shares[2]!.printable}\n`;
    expect(splitShares(printed).map(compact)).toEqual([shares[0]!.text, shares[2]!.text].map(compact));
    expect(await combineShares(splitShares(printed))).toEqual(key);
    // One per line, as before.
    expect(await combineShares(splitShares(`${shares[1]!.text}\n${shares[2]!.text}`))).toEqual(key);
    // Code groups with no first line: a share of their own, which parseShare refuses by name.
    const rows = shares[0]!.printable.split("\n").filter((l) => /^\s+[0-9A-Z]{4}-/.test(l)).join("\n");
    await expect(combineShares(splitShares(rows))).rejects.toThrow(/does not start with "indienet-share-1"/);
  });
});

/** A share's text without the spaces and dashes between its groups. */
function compact(text: string): string {
  return text.replace(/[\s-]+/g, "");
}
