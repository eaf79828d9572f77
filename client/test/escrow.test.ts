import { readFileSync } from "node:fs";
import { CompactEncrypt, generalDecrypt, type GeneralJWE } from "jose";
import { argon2id } from "hash-wasm";
import { describe, expect, it } from "vitest";
import { base64urlEncode } from "../../src/lib/bytes";
import { EscrowError, type EscrowErrorReason } from "../escrow/errors";
import {
  describeKdf,
  inspectEscrow,
  keyringJwks,
  newKeyring,
  openEscrow,
  openEscrowWith,
  rotateKeyring,
  sealEscrow,
  type EscrowProgress,
  type OpenOptions,
  type SealOptions,
} from "../escrow/escrow";
import { ARGON2_DEFAULTS, ESCROW_MAX_BYTES, PBES2_DEFAULT_COUNT, type Keyring } from "../escrow/format";
import { deriveUnlockKeyFromPrf, PRF_EVAL_INPUT, x25519FromSeed, type UnlockKey } from "../escrow/unlockKeys";
import { generatePrivateJwk, importDeviceKey, publicKeysOf } from "../keys";
import { memoryKeyStore } from "../keystore";
import { OwnerClient } from "../owner";
import { open, sealTo } from "../messages";
import { deriveRecoveryKeys, generateRecoveryKey } from "../recovery/recoveryKey";

// Small parameters, through the explicit test-only options, so each round trip takes
// milliseconds. The real parameters are used by the tests that say so.
const FAST_ARGON2: SealOptions = {
  kdf: "argon2id",
  argon2: { memoryKiB: 64, iterations: 1, parallelism: 1 },
  testOnlyAllowWeakParameters: true,
};
const FAST_PBES2: SealOptions = { kdf: "pbes2", p2c: 1000, testOnlyAllowWeakParameters: true };
const WEAK_OK: OpenOptions = { testOnlyAllowWeakParameters: true };
const PASSWORD = "correct horse battery staple, but longer";

async function freshKeyring() {
  return newKeyring(await generatePrivateJwk("sig"), await generatePrivateJwk("enc"), 1_700_000_000_000);
}

async function passkeyKey(credentialIdBytes = 16): Promise<UnlockKey> {
  const prf = crypto.getRandomValues(new Uint8Array(32));
  return deriveUnlockKeyFromPrf(prf, crypto.getRandomValues(new Uint8Array(credentialIdBytes)));
}

async function failure(promise: Promise<unknown>): Promise<EscrowError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EscrowError);
  return err as EscrowError;
}

async function expectReason(promise: Promise<unknown>, reason: EscrowErrorReason) {
  const err = await failure(promise);
  expect(err.reason).toBe(reason);
  expect(err.code).toBe(["wrong_password", "not_a_recipient", "wrong_key"].includes(reason) ? "wrong_password" : "escrow_unreadable");
  return err;
}

const b64json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const unb64json = (text: string) => JSON.parse(Buffer.from(text, "base64url").toString()) as Record<string, unknown>;
type Jwe = GeneralJWE & { recipients: Array<{ encrypted_key: string; header: Record<string, unknown> }> };
const parse = (blob: string) => JSON.parse(blob) as Jwe;

describe("format 2: the password recipient", () => {
  for (const [name, options] of [
    ["Argon2id", FAST_ARGON2],
    ["PBKDF2-HMAC-SHA-512", FAST_PBES2],
  ] as const) {
    it(`returns the same keyring after sealing and opening with ${name}`, async () => {
      const keyring = await freshKeyring();
      const blob = await sealEscrow(keyring, PASSWORD, options);
      expect(blob).not.toContain(keyring.keys[0]!.jwk.d);
      const opened = await openEscrowWith(blob, { password: PASSWORD }, WEAK_OK);
      expect(opened).toMatchObject({ keyring, format: 2, openedBy: "password", recipients: [] });
      expect(opened.passwordKey?.kek.extractable).toBe(false);
    });

    it(`reports a wrong password as wrong_password with ${name}, never garbage`, async () => {
      const blob = await sealEscrow(await freshKeyring(), PASSWORD, options);
      const err = await expectReason(openEscrow(blob, PASSWORD + "!", WEAK_OK), "wrong_password");
      expect(err.blobAtFault).toBe(false);
      await expectReason(openEscrow(blob, "", WEAK_OK), "wrong_password");
    });
  }

  it("is a General JSON JWE with the KDF and the recipient manifest in the protected header", async () => {
    const key = await passkeyKey();
    const blob = await sealEscrow(await freshKeyring(), PASSWORD, { ...FAST_ARGON2, recipients: [key.publicJwk] });
    const jwe = parse(blob);
    expect(Object.keys(jwe).sort()).toEqual(["ciphertext", "iv", "protected", "recipients", "tag"]);
    const header = unb64json(jwe.protected!);
    expect(header).toMatchObject({
      enc: "A256GCM",
      iev: 2,
      cty: "application/vnd.indienet.keyring+json",
      kdf: { name: "argon2id", v: 19, m: 64, t: 1, p: 1 },
      rcp: [key.publicJwk],
    });
    expect((header.kdf as { salt: string }).salt).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(jwe.recipients.map((r) => r.header)).toEqual([
      { alg: "A256KW", kid: "password" },
      { alg: "ECDH-ES+A256KW", kid: key.kid, epk: expect.objectContaining({ kty: "OKP", crv: "X25519" }) },
    ]);
    expect(inspectEscrow(blob, WEAK_OK)).toEqual({
      format: 2,
      kdf: { name: "argon2id", m: 64, t: 1, p: 1 },
      recipientKids: ["password", key.kid],
    });
  });

  it("is a standard JWE: jose's generalDecrypt opens it with the password's derived key", async () => {
    const keyring = await freshKeyring();
    const blob = await sealEscrow(keyring, PASSWORD, FAST_PBES2);
    const { passwordKey } = await openEscrowWith(blob, { password: PASSWORD }, WEAK_OK);
    const { plaintext } = await generalDecrypt(parse(blob), passwordKey!.kek);
    expect(JSON.parse(new TextDecoder().decode(plaintext))).toEqual(keyring);
  });

  it("refuses to seal parameters below the floors without the test-only option", async () => {
    const keyring = await freshKeyring();
    await expect(sealEscrow(keyring, PASSWORD, { kdf: "pbes2", p2c: 10_000 })).rejects.toThrow(RangeError);
    await expect(
      sealEscrow(keyring, PASSWORD, { kdf: "argon2id", argon2: { memoryKiB: 1024, iterations: 3, parallelism: 1 } }),
    ).rejects.toThrow(RangeError);
    await expect(sealEscrow(keyring, "", FAST_ARGON2)).rejects.toMatchObject({ code: "weak_password" });
  });

  it("normalizes the password to NFC, so composed and decomposed accents match", async () => {
    const blob = await sealEscrow(await freshKeyring(), "caf\u00e9 au lait, tr\u00e8s fort", FAST_ARGON2);
    await expect(openEscrow(blob, "cafe\u0301 au lait, tre\u0300s fort", WEAK_OK)).resolves.toBeDefined();
  });

  it("round-trips at the real parameters (Argon2id 64 MiB, t=3, p=1) and reports progress", async () => {
    const keyring = await freshKeyring();
    const blob = await sealEscrow(keyring, PASSWORD);
    const summary = inspectEscrow(blob);
    expect(summary.kdf).toEqual({ name: "argon2id", m: ARGON2_DEFAULTS.memoryKiB, t: ARGON2_DEFAULTS.iterations, p: ARGON2_DEFAULTS.parallelism });
    expect(describeKdf(summary)).toBe("Argon2id, 64 MiB, 3 passes");
    const stages: EscrowProgress["stage"][] = [];
    expect(await openEscrow(blob, PASSWORD, { onProgress: (p) => stages.push(p.stage) })).toEqual(keyring);
    expect(stages).toEqual(["derive", "decrypt", "done"]);
  });

  it("round-trips the PBKDF2 fallback at the real count (210,000)", async () => {
    const keyring = await freshKeyring();
    const blob = await sealEscrow(keyring, PASSWORD, { kdf: "pbes2" });
    expect(inspectEscrow(blob).kdf).toEqual({ name: "pbkdf2-sha512", iterations: PBES2_DEFAULT_COUNT });
    expect(await openEscrow(blob, PASSWORD)).toEqual(keyring);
  });
});

describe("format 2: passkey and recovery-key recipients", () => {
  it("opens with a PRF-derived unlock key, whose private key is non-extractable", async () => {
    const keyring = await freshKeyring();
    const key = await passkeyKey();
    expect(key.privateKey.extractable).toBe(false);
    const blob = await sealEscrow(keyring, PASSWORD, { ...FAST_ARGON2, recipients: [key.publicJwk] });
    const opened = await openEscrowWith(blob, { key }, WEAK_OK);
    expect(opened).toMatchObject({ keyring, format: 2, openedBy: key.kid, recipients: [key.publicJwk] });
    expect(opened.passwordKey).toBeUndefined();
  });

  it("opens with the recovery key's unlock key", async () => {
    const keyring = await freshKeyring();
    const { unlockKey } = await deriveRecoveryKeys(generateRecoveryKey());
    const passkey = await passkeyKey();
    const blob = await sealEscrow(keyring, PASSWORD, { ...FAST_PBES2, recipients: [passkey.publicJwk, unlockKey.publicJwk] });
    expect((await openEscrowWith(blob, { key: unlockKey }, WEAK_OK)).keyring).toEqual(keyring);
    expect((await openEscrowWith(blob, { key: passkey }, WEAK_OK)).keyring).toEqual(keyring);
  });

  it("derives the same unlock key from the same PRF output and credential id, another from another id", async () => {
    const prf = crypto.getRandomValues(new Uint8Array(32));
    const credentialId = crypto.getRandomValues(new Uint8Array(20));
    const a = await deriveUnlockKeyFromPrf(prf.slice(), credentialId);
    const b = await deriveUnlockKeyFromPrf(prf.slice(), credentialId);
    const c = await deriveUnlockKeyFromPrf(prf.slice(), crypto.getRandomValues(new Uint8Array(20)));
    expect(a.publicJwk).toEqual(b.publicJwk);
    expect(c.publicJwk.x).not.toBe(a.publicJwk.x);
    expect(a.kid).toBe(`passkey:${base64urlEncode(credentialId)}`);
    // The input is consumed: zeroed once imported.
    const consumed = prf.slice();
    await deriveUnlockKeyFromPrf(consumed, credentialId);
    expect(consumed.every((byte) => byte === 0)).toBe(true);
  });

  it("computes the public key WebCrypto itself would export for that private key", async () => {
    const seed = crypto.getRandomValues(new Uint8Array(32));
    const prefix = Buffer.from("302e020100300506032b656e04220420", "hex");
    const extractable = await crypto.subtle.importKey("pkcs8", Buffer.concat([prefix, seed]), { name: "X25519" }, true, ["deriveBits"]);
    const { x } = await crypto.subtle.exportKey("jwk", extractable);
    expect((await x25519FromSeed(seed, "passkey:AAAA")).publicJwk.x).toBe(x);
  });

  it("uses SHA-256('indienet escrow v1') as the PRF input", async () => {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode("indienet escrow v1")));
    expect(PRF_EVAL_INPUT).toEqual(digest);
  });

  it("re-seals with the password key and the manifest alone: the passkey need not be at hand", async () => {
    const keyring = await freshKeyring();
    const passkey = await passkeyKey();
    const first = await sealEscrow(keyring, PASSWORD, { ...FAST_ARGON2, recipients: [passkey.publicJwk] });
    const opened = await openEscrowWith(first, { password: PASSWORD }, WEAK_OK);
    const rotated = rotateKeyring(opened.keyring, await generatePrivateJwk("sig"), await generatePrivateJwk("enc"));
    const second = await sealEscrow(rotated, opened.passwordKey!, { recipients: opened.recipients, testOnlyAllowWeakParameters: true });
    // Same KDF and salt (no new derivation), a fresh content key.
    expect(unb64json(parse(second).protected!).kdf).toEqual(unb64json(parse(first).protected!).kdf);
    expect(parse(second).recipients[0]!.encrypted_key).not.toBe(parse(first).recipients[0]!.encrypted_key);
    expect((await openEscrowWith(second, { key: passkey }, WEAK_OK)).keyring).toEqual(rotated);
    expect(await openEscrow(second, PASSWORD, WEAK_OK)).toEqual(rotated);
  });

  it("changes the password and keeps the passkeys, from public keys alone", async () => {
    const keyring = await freshKeyring();
    const passkey = await passkeyKey();
    const first = await sealEscrow(keyring, PASSWORD, { ...FAST_ARGON2, recipients: [passkey.publicJwk] });
    const { recipients } = await openEscrowWith(first, { password: PASSWORD }, WEAK_OK);
    const second = await sealEscrow(keyring, "a brand new password", { ...FAST_ARGON2, recipients });
    await expectReason(openEscrow(second, PASSWORD, WEAK_OK), "wrong_password");
    expect(await openEscrow(second, "a brand new password", WEAK_OK)).toEqual(keyring);
    expect((await openEscrowWith(second, { key: passkey }, WEAK_OK)).keyring).toEqual(keyring);
  });

  it("shuts out a removed recipient: it is no longer named, and its old wrapped key opens nothing", async () => {
    const keyring = await freshKeyring();
    const kept = await passkeyKey();
    const removed = await passkeyKey();
    const before = await sealEscrow(keyring, PASSWORD, { ...FAST_ARGON2, recipients: [kept.publicJwk, removed.publicJwk] });
    const after = await sealEscrow(keyring, PASSWORD, { ...FAST_ARGON2, recipients: [kept.publicJwk] });
    await expectReason(openEscrowWith(after, { key: removed }, WEAK_OK), "not_a_recipient");
    expect((await openEscrowWith(after, { key: kept }, WEAK_OK)).keyring).toEqual(keyring);
    // Even with its recipient entry from the earlier blob spliced in, jose cannot open
    // the new blob with the removed key: every seal draws a fresh content key.
    const spliced = { ...parse(after), recipients: [parse(before).recipients[2]!] };
    await expect(generalDecrypt(spliced, removed.privateKey)).rejects.toThrow();
  });

  it("tells a key that is not a recipient, and a recipient name with another key, from an altered blob", async () => {
    const passkey = await passkeyKey();
    const blob = await sealEscrow(await freshKeyring(), PASSWORD, { ...FAST_ARGON2, recipients: [passkey.publicJwk] });
    await expectReason(openEscrowWith(blob, { key: await passkeyKey() }, WEAK_OK), "not_a_recipient");
    const impostor = await x25519FromSeed(crypto.getRandomValues(new Uint8Array(32)), passkey.kid);
    await expectReason(openEscrowWith(blob, { key: impostor }, WEAK_OK), "wrong_key");
  });

  it("refuses duplicate or malformed recipients when sealing", async () => {
    const passkey = await passkeyKey();
    const keyring = await freshKeyring();
    await expect(sealEscrow(keyring, PASSWORD, { ...FAST_ARGON2, recipients: [passkey.publicJwk, passkey.publicJwk] })).rejects.toThrow(
      RangeError,
    );
    await expect(
      sealEscrow(keyring, PASSWORD, { ...FAST_ARGON2, recipients: [{ ...passkey.publicJwk, kid: "password" }] }),
    ).rejects.toThrow();
  });

  it("stays under 64 KiB with 10 passkeys of the longest credential ids and the recovery key", async () => {
    const keyring = await freshKeyring();
    const sizes: Record<string, number> = {};
    const base = await sealEscrow(keyring, PASSWORD, FAST_ARGON2);
    sizes.passwordOnly = base.length;
    for (const idBytes of [16, 64, 1023]) {
      const passkeys = await Promise.all(Array.from({ length: 10 }, () => passkeyKey(idBytes)));
      const { unlockKey } = await deriveRecoveryKeys(generateRecoveryKey());
      const blob = await sealEscrow(keyring, PASSWORD, {
        ...FAST_ARGON2,
        recipients: [...passkeys.map((k) => k.publicJwk), unlockKey.publicJwk],
      });
      sizes[`tenPasskeysOf${idBytes}Bytes`] = blob.length;
      expect(blob.length).toBeLessThanOrEqual(ESCROW_MAX_BYTES);
      expect((await openEscrowWith(blob, { key: passkeys[9]! }, WEAK_OK)).keyring).toEqual(keyring);
    }
    const one = await sealEscrow(keyring, PASSWORD, { ...FAST_ARGON2, recipients: [(await passkeyKey(32)).publicJwk] });
    sizes.perPasskeyOf32Bytes = one.length - base.length;
    // Printed for docs/escrow-format.md ("Size").
    console.log("escrow sizes (bytes):", JSON.stringify(sizes));
  });

  it("refuses to write a blob over the server's 64 KiB", async () => {
    let keyring = await freshKeyring();
    // 200 keys (the keyring schema's maximum) with 128-character kids: about 70 KB of keyring.
    const sig = await generatePrivateJwk("sig");
    const enc = await generatePrivateJwk("enc");
    const longKid = (prefix: string, i: number) => `${prefix}${i}`.padEnd(128, "x");
    for (let i = 0; i < 99; i++) keyring = rotateKeyring(keyring, { ...sig, kid: longKid("s", i) }, { ...enc, kid: longKid("e", i) });
    keyring = { ...keyring, keys: keyring.keys.slice(0, 200) };
    await expect(sealEscrow(keyring, PASSWORD, FAST_ARGON2)).rejects.toMatchObject({ code: "payload_too_large" });
  });
});

describe("format 2: an altered blob is not a wrong password", () => {
  it("reports a ciphertext edit as tampered with the right password or key, as wrong_password with a wrong one", async () => {
    const passkey = await passkeyKey();
    const blob = await sealEscrow(await freshKeyring(), PASSWORD, { ...FAST_ARGON2, recipients: [passkey.publicJwk] });
    const jwe = parse(blob);
    const flipped = jwe.ciphertext.startsWith("A") ? "B" + jwe.ciphertext.slice(1) : "A" + jwe.ciphertext.slice(1);
    const tampered = JSON.stringify({ ...jwe, ciphertext: flipped });
    const err = await expectReason(openEscrow(tampered, PASSWORD, WEAK_OK), "tampered");
    expect(err.blobAtFault).toBe(true);
    await expectReason(openEscrowWith(tampered, { key: passkey }, WEAK_OK), "tampered");
    await expectReason(openEscrow(tampered, "not the password", WEAK_OK), "wrong_password");
  });

  it("refuses recipients that disagree with the authenticated manifest", async () => {
    const a = await passkeyKey();
    const b = await passkeyKey();
    const jwe = parse(await sealEscrow(await freshKeyring(), PASSWORD, { ...FAST_ARGON2, recipients: [a.publicJwk, b.publicJwk] }));
    const swapped = { ...jwe, recipients: [jwe.recipients[0]!, jwe.recipients[2]!, jwe.recipients[1]!] };
    await expectReason(openEscrow(JSON.stringify(swapped), PASSWORD, WEAK_OK), "tampered");
    const dropped = { ...jwe, recipients: jwe.recipients.slice(0, 2) };
    await expectReason(openEscrow(JSON.stringify(dropped), PASSWORD, WEAK_OK), "tampered");
  });

  it("refuses a manifest edit: the protected header is AES-GCM's additional data", async () => {
    const a = await passkeyKey();
    const intruder = await passkeyKey();
    const jwe = parse(await sealEscrow(await freshKeyring(), PASSWORD, { ...FAST_ARGON2, recipients: [a.publicJwk] }));
    const header = unb64json(jwe.protected!);
    // The server swaps in its own key under the passkey's name, hoping the next re-seal uses it.
    const edited = { ...jwe, protected: b64json({ ...header, rcp: [{ ...intruder.publicJwk, kid: a.kid }] }) };
    await expectReason(openEscrow(JSON.stringify(edited), PASSWORD, WEAK_OK), "tampered");
  });

  it("reports an altered KDF parameter as a failed unwrap (the derived key changes)", async () => {
    const jwe = parse(await sealEscrow(await freshKeyring(), PASSWORD, FAST_ARGON2));
    const header = unb64json(jwe.protected!) as { kdf: { t: number } };
    header.kdf.t = 2;
    await expectReason(openEscrow(JSON.stringify({ ...jwe, protected: b64json(header) }), PASSWORD, WEAK_OK), "wrong_password");
  });

  it("refuses KDF parameters below the floors as an altered blob", async () => {
    const argon = await sealEscrow(await freshKeyring(), PASSWORD, FAST_ARGON2);
    await expectReason(openEscrow(argon, PASSWORD), "weak_parameters");
    expect(() => inspectEscrow(argon)).toThrow(EscrowError);
    const pbkdf2 = await sealEscrow(await freshKeyring(), PASSWORD, FAST_PBES2);
    await expectReason(openEscrow(pbkdf2, PASSWORD), "weak_parameters");
    // Weakened from a real blob: refused before any derivation, whatever the password.
    const real = parse(await sealEscrow(await freshKeyring(), PASSWORD, { kdf: "pbes2" }));
    const header = unb64json(real.protected!) as { kdf: { c: number } };
    header.kdf.c = 1000;
    await expectReason(openEscrow(JSON.stringify({ ...real, protected: b64json(header) }), PASSWORD), "weak_parameters");
  });

  it("refuses parameters above the ceilings as unreadable", async () => {
    const jwe = parse(await sealEscrow(await freshKeyring(), PASSWORD, FAST_PBES2));
    const header = unb64json(jwe.protected!) as { kdf: { c: number } };
    header.kdf.c = 50_000_000;
    await expectReason(openEscrow(JSON.stringify({ ...jwe, protected: b64json(header) }), PASSWORD, WEAK_OK), "unsupported_format");
  });

  it("refuses zip and crit in the protected header, a shared header or a recipient header", async () => {
    const passkey = await passkeyKey();
    const jwe = parse(await sealEscrow(await freshKeyring(), PASSWORD, { ...FAST_ARGON2, recipients: [passkey.publicJwk] }));
    const header = unb64json(jwe.protected!);
    const variants = [
      { ...jwe, protected: b64json({ ...header, zip: "DEF" }) },
      { ...jwe, protected: b64json({ ...header, crit: ["exp"], exp: 1 }) },
      { ...jwe, unprotected: { zip: "DEF" } },
      { ...jwe, recipients: [jwe.recipients[0]!, { ...jwe.recipients[1]!, header: { ...jwe.recipients[1]!.header, zip: "DEF" } }] },
      { ...jwe, recipients: [{ ...jwe.recipients[0]!, header: { ...jwe.recipients[0]!.header, crit: ["b64"], b64: true } }, jwe.recipients[1]!] },
    ];
    for (const variant of variants) {
      await expectReason(openEscrow(JSON.stringify(variant), PASSWORD, WEAK_OK), "forbidden_header");
      await expectReason(openEscrowWith(JSON.stringify(variant), { key: passkey }, WEAK_OK), "forbidden_header");
    }
  });

  it("refuses what is not an escrow", async () => {
    await expectReason(openEscrow("not-a-jwe", PASSWORD), "unsupported_format");
    await expectReason(openEscrow("{not json", PASSWORD), "unsupported_format");
    await expectReason(openEscrow('{"protected":"e30","recipients":[]}', PASSWORD), "unsupported_format");
    expect(() => inspectEscrow("escrow-blob-v1")).toThrow(EscrowError);
  });
});

describe("format 1 blobs still open", () => {
  const fixture = JSON.parse(readFileSync(new URL("./fixtures/escrow-v1.json", import.meta.url), "utf8")) as {
    password: string;
    keyring: Keyring;
    argon2id: string;
    pbes2: string;
  };

  it("opens a format 1 Argon2id blob written by the format 1 writer, and rewrites it as format 2", async () => {
    const opened = await openEscrowWith(fixture.argon2id, { password: fixture.password });
    expect(opened).toMatchObject({ keyring: fixture.keyring, format: 1, openedBy: "password", recipients: [] });
    expect(inspectEscrow(fixture.argon2id).format).toBe(1);
    const rewritten = await sealEscrow(opened.keyring, fixture.password, FAST_ARGON2);
    expect(inspectEscrow(rewritten, WEAK_OK).format).toBe(2);
    await expectReason(openEscrow(fixture.argon2id, "wrong", {}), "wrong_password");
  });

  it("opens a format 1 PBES2 blob, and refuses it to an unlock key", async () => {
    expect(await openEscrow(fixture.pbes2, fixture.password)).toEqual(fixture.keyring);
    expect(inspectEscrow(fixture.pbes2).kdf).toEqual({ name: "pbes2", iterations: 210_000 });
    await expectReason(openEscrowWith(fixture.pbes2, { key: await passkeyKey() }), "not_a_recipient");
  });

  it("refuses zip and crit in a format 1 header", async () => {
    const [h, ...rest] = fixture.pbes2.split(".");
    for (const extra of [{ zip: "DEF" }, { crit: ["exp"], exp: 1 }]) {
      const altered = [b64json({ ...unb64json(h!), ...extra }), ...rest].join(".");
      await expectReason(openEscrow(altered, fixture.password), "forbidden_header");
    }
  });

  it("refuses a format 1 blob with weak parameters, and tells an edit from a wrong password", async () => {
    const keyring = await freshKeyring();
    const salt = crypto.getRandomValues(new Uint8Array(16));
    const kdf = { name: "argon2id", v: 19, m: 64, t: 1, p: 1, salt: base64urlEncode(salt) };
    const kek = await argon2id({ password: PASSWORD, salt, memorySize: 64, iterations: 1, parallelism: 1, hashLength: 32, outputType: "binary" });
    const weak = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(keyring)))
      .setProtectedHeader({ alg: "A256KW", enc: "A256GCM", cty: "application/vnd.indienet.keyring+json", iev: 1, kdf })
      .encrypt(kek);
    await expectReason(openEscrow(weak, PASSWORD), "weak_parameters");
    expect(await openEscrow(weak, PASSWORD, WEAK_OK)).toEqual(keyring);
    const parts = weak.split(".");
    parts[3] = parts[3]!.startsWith("A") ? "B" + parts[3]!.slice(1) : "A" + parts[3]!.slice(1);
    await expectReason(openEscrow(parts.join("."), PASSWORD, WEAK_OK), "tampered");
    await expectReason(openEscrow(parts.join("."), "wrong", WEAK_OK), "wrong_password");
    const [h, ...rest] = fixture.pbes2.split(".");
    const tamperedPbes2 = [h, rest[0], rest[1], rest[2]!.startsWith("A") ? "B" + rest[2]!.slice(1) : "A" + rest[2]!.slice(1), rest[3]].join(".");
    await expectReason(openEscrow(tamperedPbes2, fixture.password), "tampered");
  });
});

describe("rotation keeps every key", () => {
  it("opens a message sealed to a retired key after rotation and an escrow round trip", async () => {
    const first = await freshKeyring();
    const oldEnc = first.keys.find((k) => k.use === "enc")!;
    const oldMessage = await sealTo({ kty: "OKP", crv: "X25519", x: oldEnc.jwk.x, kid: oldEnc.kid, use: "enc" }, "sent before rotation");

    const rotated = rotateKeyring(first, await generatePrivateJwk("sig"), await generatePrivateJwk("enc"), 1_800_000_000_000);
    expect(rotated.keys.filter((k) => k.status === "current")).toHaveLength(2);
    expect(rotated.keys.filter((k) => k.status === "retired").map((k) => k.kid).sort()).toEqual(first.keys.map((k) => k.kid).sort());

    const reopened = await openEscrow(await sealEscrow(rotated, PASSWORD, FAST_ARGON2), PASSWORD, WEAK_OK);
    const encKeys = await Promise.all(
      keyringJwks(reopened)
        .filter((k) => k.use === "enc")
        .map((k) => importDeviceKey(k, k.status)),
    );
    expect(encKeys.every((k) => !k.privateKey.extractable)).toBe(true);
    expect(await open(oldMessage, encKeys)).toBe("sent before rotation");

    const newEnc = reopened.keys.find((k) => k.use === "enc" && k.status === "current")!;
    const newMessage = await sealTo({ kty: "OKP", crv: "X25519", x: newEnc.jwk.x, kid: newEnc.kid, use: "enc" }, "after");
    expect(await open(newMessage, encKeys)).toBe("after");
  });
});

describe("the OwnerClient's unlock, unchanged, reads both formats", () => {
  it("unlocks a device from a format 2 blob with passkey recipients, and from a format 1 blob", async () => {
    const sig = await generatePrivateJwk("sig");
    const enc = await generatePrivateJwk("enc");
    const keyring = newKeyring(sig, enc);
    // Only the login that ends every unlock (docs/client.md, "Keys on the device").
    const fetch = async (input: RequestInfo | URL) => {
      const path = new URL(String(input)).pathname;
      if (path === "/auth/challenge") return Response.json({ challenge: "c", expiresAt: Date.now() + 60_000, mfa: false, claimed: true, passkey: false });
      if (path === "/auth/login") return Response.json({ accessToken: "a.b.c", tokenType: "Bearer", expiresIn: 900, sessionId: "s1" });
      throw new Error(`no ${path} in this test`);
    };
    const blob = await sealEscrow(keyring, PASSWORD, { kdf: "pbes2", recipients: [(await passkeyKey()).publicJwk] });
    const client = new OwnerClient({ origin: "https://id.example.org", fetch, keyStore: memoryKeyStore() });
    const device = await client.unlock({ version: 3, blob, publicKeys: publicKeysOf(sig, enc) }, PASSWORD);
    expect(device).toMatchObject({ escrowVersion: 3, sig: { kid: sig.kid } });
    await expect(client.unlock({ version: 3, blob, publicKeys: publicKeysOf(sig, enc) }, "wrong")).rejects.toMatchObject({
      code: "wrong_password",
    });

    const fixture = JSON.parse(readFileSync(new URL("./fixtures/escrow-v1.json", import.meta.url), "utf8")) as { password: string; keyring: Keyring; pbes2: string };
    const [v1sig, v1enc] = [fixture.keyring.keys[0]!, fixture.keyring.keys[1]!];
    const v1PublicKeys = publicKeysOf({ ...v1sig.jwk, kid: v1sig.kid, use: "sig" }, { ...v1enc.jwk, kid: v1enc.kid, use: "enc" });
    const other = new OwnerClient({ origin: "https://id.example.org", fetch, keyStore: memoryKeyStore() });
    expect(await other.unlock({ version: 1, blob: fixture.pbes2, publicKeys: v1PublicKeys }, fixture.password)).toMatchObject({
      escrowVersion: 1,
      sig: { kid: v1sig.kid },
    });
  });
});
