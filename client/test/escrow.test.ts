import { compactDecrypt, decodeProtectedHeader } from "jose";
import { describe, expect, it } from "vitest";
import { IndieError } from "../errors";
import {
  describeKdf,
  inspectEscrow,
  keyringJwks,
  newKeyring,
  openEscrow,
  rotateKeyring,
  sealEscrow,
  type EscrowProgress,
  type SealOptions,
} from "../escrow/escrow";
import { ARGON2_DEFAULTS, PBES2_DEFAULT_COUNT } from "../escrow/format";
import { generatePrivateJwk, importDeviceKey } from "../keys";
import { open, sealTo } from "../messages";

// Small parameters, through the explicit test-only option, so each round-trip takes
// milliseconds. One test below uses the real parameters.
const FAST_ARGON2: SealOptions = {
  kdf: "argon2id",
  argon2: { memoryKiB: 64, iterations: 1, parallelism: 1 },
  testOnlyAllowWeakParameters: true,
};
const FAST_PBES2: SealOptions = { kdf: "pbes2", p2c: 1000, testOnlyAllowWeakParameters: true };
const PASSWORD = "correct horse battery staple, but longer";

async function freshKeyring() {
  return newKeyring(await generatePrivateJwk("sig"), await generatePrivateJwk("enc"), 1_700_000_000_000);
}

async function expectCode(promise: Promise<unknown>, code: string) {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(IndieError);
  expect((err as IndieError).code).toBe(code);
}

describe("escrow round-trips", () => {
  for (const [name, options] of [
    ["Argon2id", FAST_ARGON2],
    ["PBES2-HS512+A256KW", FAST_PBES2],
  ] as const) {
    it(`returns the same keyring after sealing and opening with ${name}`, async () => {
      const keyring = await freshKeyring();
      const blob = await sealEscrow(keyring, PASSWORD, options);
      expect(blob.split(".")).toHaveLength(5);
      expect(blob).not.toContain(keyring.keys[0]!.jwk.d);
      expect(await openEscrow(blob, PASSWORD)).toEqual(keyring);
    });

    it(`reports a wrong password as wrong_password with ${name}, never garbage`, async () => {
      const blob = await sealEscrow(await freshKeyring(), PASSWORD, options);
      await expectCode(openEscrow(blob, PASSWORD + "!"), "wrong_password");
      await expectCode(openEscrow(blob, ""), "wrong_password");
    });
  }

  it("puts the Argon2id parameters and salt in the protected header", async () => {
    const blob = await sealEscrow(await freshKeyring(), PASSWORD, FAST_ARGON2);
    const header = decodeProtectedHeader(blob) as Record<string, unknown>;
    expect(header).toMatchObject({
      alg: "A256KW",
      enc: "A256GCM",
      iev: 1,
      cty: "application/vnd.indienet.keyring+json",
      kdf: { name: "argon2id", v: 19, m: 64, t: 1, p: 1 },
    });
    expect((header.kdf as { salt: string }).salt).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it("refuses a blob whose authenticated header was altered", async () => {
    const blob = await sealEscrow(await freshKeyring(), PASSWORD, FAST_ARGON2);
    const [h, ...rest] = blob.split(".");
    const header = JSON.parse(Buffer.from(h!, "base64url").toString()) as { kdf: { t: number } };
    // Same password, same salt; only t differs: the derived key changes, and even a
    // lucky key would fail GCM, whose AAD is this header.
    header.kdf.t = 2;
    const tampered = [Buffer.from(JSON.stringify(header)).toString("base64url"), ...rest].join(".");
    await expectCode(openEscrow(tampered, PASSWORD), "wrong_password");
  });

  it("sets p2c explicitly for PBES2 and defaults to 210,000", async () => {
    const blob = await sealEscrow(await freshKeyring(), PASSWORD, FAST_PBES2);
    expect(decodeProtectedHeader(blob)).toMatchObject({ alg: "PBES2-HS512+A256KW", p2c: 1000 });
    expect(PBES2_DEFAULT_COUNT).toBeGreaterThanOrEqual(210_000);
  });

  it("refuses parameters below the floors without the test-only option", async () => {
    const keyring = await freshKeyring();
    await expect(sealEscrow(keyring, PASSWORD, { kdf: "pbes2", p2c: 10_000 })).rejects.toThrow(RangeError);
    await expect(
      sealEscrow(keyring, PASSWORD, { kdf: "argon2id", argon2: { memoryKiB: 1024, iterations: 3, parallelism: 1 } }),
    ).rejects.toThrow(RangeError);
  });

  it("refuses to open a blob whose p2c is above the client's ceiling", async () => {
    const blob = await sealEscrow(await freshKeyring(), PASSWORD, FAST_PBES2);
    const [h, ...rest] = blob.split(".");
    const header = JSON.parse(Buffer.from(h!, "base64url").toString()) as { p2c: number };
    header.p2c = 50_000_000;
    const hostile = [Buffer.from(JSON.stringify(header)).toString("base64url"), ...rest].join(".");
    await expectCode(openEscrow(hostile, PASSWORD), "escrow_unreadable");
  });

  it("refuses a blob that is not an escrow", async () => {
    await expectCode(openEscrow("not-a-jwe", PASSWORD), "escrow_unreadable");
    expect(() => inspectEscrow("escrow-blob-v1")).toThrow(IndieError);
  });

  it("round-trips at the real parameters (Argon2id 64 MiB, t=3, p=1) and reports progress", async () => {
    const keyring = await freshKeyring();
    const blob = await sealEscrow(keyring, PASSWORD);
    const header = inspectEscrow(blob);
    expect(header.alg === "A256KW" && header.kdf).toMatchObject({
      m: ARGON2_DEFAULTS.memoryKiB,
      t: ARGON2_DEFAULTS.iterations,
      p: ARGON2_DEFAULTS.parallelism,
    });
    expect(describeKdf(header)).toBe("Argon2id, 64 MiB, 3 passes");
    const stages: EscrowProgress["stage"][] = [];
    expect(await openEscrow(blob, PASSWORD, { onProgress: (p) => stages.push(p.stage) })).toEqual(keyring);
    expect(stages).toEqual(["derive", "decrypt", "done"]);
  });

  it("round-trips PBES2 at the real count (210,000)", async () => {
    const keyring = await freshKeyring();
    const blob = await sealEscrow(keyring, PASSWORD, { kdf: "pbes2" });
    expect(decodeProtectedHeader(blob)).toMatchObject({ p2c: 210_000 });
    expect(await openEscrow(blob, PASSWORD)).toEqual(keyring);
  });

  it("normalizes the password to NFC, so composed and decomposed accents match", async () => {
    const blob = await sealEscrow(await freshKeyring(), "caf\u00e9 au lait, tr\u00e8s fort", FAST_ARGON2);
    await expect(openEscrow(blob, "cafe\u0301 au lait, tre\u0300s fort")).resolves.toBeDefined();
  });
});

describe("rotation keeps every key", () => {
  it("opens a message sealed to a retired key after rotation and an escrow round-trip", async () => {
    const first = await freshKeyring();
    const oldEnc = first.keys.find((k) => k.use === "enc")!;
    const oldMessage = await sealTo({ kty: "OKP", crv: "X25519", x: oldEnc.jwk.x, kid: oldEnc.kid, use: "enc" }, "sent before rotation");

    const rotated = rotateKeyring(first, await generatePrivateJwk("sig"), await generatePrivateJwk("enc"), 1_800_000_000_000);
    expect(rotated.keys.filter((k) => k.status === "current")).toHaveLength(2);
    expect(rotated.keys.filter((k) => k.status === "retired").map((k) => k.kid).sort()).toEqual(first.keys.map((k) => k.kid).sort());

    const reopened = await openEscrow(await sealEscrow(rotated, PASSWORD, FAST_ARGON2), PASSWORD);
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

describe("sanity of the JWE itself", () => {
  it("is a standard JWE that jose opens with the derived key", async () => {
    const blob = await sealEscrow(await freshKeyring(), PASSWORD, FAST_PBES2);
    const { plaintext } = await compactDecrypt(blob, new TextEncoder().encode(PASSWORD), {
      keyManagementAlgorithms: ["PBES2-HS512+A256KW"],
      maxPBES2Count: 1000,
    });
    expect(JSON.parse(new TextDecoder().decode(plaintext))).toMatchObject({ format: "indienet-keyring", v: 1 });
  });
});
