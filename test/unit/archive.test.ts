/**
 * The archive digest and consistency rules (src/domain/archive.ts), without I/O: the
 * digest depends on every record and their order, and on nothing else (not on how a
 * file happens to order an object's members or space its lines).
 */
import { describe, expect, it } from "vitest";
import { archiveDigest, canonicalJson, findArchiveInconsistency } from "../../src/domain/archive";
import { buildArchive, withDigest } from "../helpers/archive";

describe("canonicalJson", () => {
  it("sorts members by UTF-16 code units at every depth and drops undefined ones", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 0, y: undefined }], c: "é" }, "\u00e9": null, B: true })).toBe(
      '{"B":true,"a":{"c":"é","d":[3,{"z":0}]},"b":1,"é":null}',
    );
  });

  it("refuses what JSON cannot say", () => {
    expect(() => canonicalJson(Number.NaN)).toThrow();
    expect(() => canonicalJson({ f: () => 1 })).toThrow();
  });
});

describe("archiveDigest", () => {
  it("changes with any record, its order, or a record dropped", async () => {
    const { archive } = await buildArchive({ messages: 3 });
    const { digest, ...records } = archive;
    expect(await archiveDigest(records)).toBe(digest);
    const variants = [
      { ...records, messages: records.messages.slice(0, -1) },
      { ...records, messages: [...records.messages].reverse() },
      { ...records, activity: [...records.activity, records.activity[0]!] },
      { ...records, escrow: records.escrow.map((e, i) => (i === 1 ? { ...e, createdAt: e.createdAt + 1 } : e)) },
      { ...records, lastMessageId: records.lastMessageId + 1 },
      { ...records, settings: { ...records.settings, OWNER_HANDLE: "someone" } },
      // A message moved into the activity list is a different record, though its value is the same.
      { ...records, messages: [], activity: records.messages as never },
    ];
    const digests = await Promise.all(variants.map((v) => archiveDigest(v)));
    expect(new Set([digest, ...digests]).size).toBe(variants.length + 1);
  });

  it("does not depend on member order or whitespace in the file", async () => {
    const { archive } = await buildArchive({ messages: 2 });
    const reordered = JSON.parse(
      JSON.stringify(archive, (_k, v: unknown) =>
        v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v,
      ),
    );
    expect(Object.keys(reordered)[0]).toBe("digest");
    expect(await archiveDigest(reordered)).toBe(archive.digest);
  });
});

describe("findArchiveInconsistency", () => {
  it("accepts an archive an instance could have exported", async () => {
    expect(await findArchiveInconsistency((await buildArchive()).archive)).toBeNull();
  });

  it("names what is wrong", async () => {
    const { archive, keys } = await buildArchive();
    const check = async (change: object) => findArchiveInconsistency(await withDigest({ ...archive, ...change }));
    expect(await check({ publicKeys: [...archive.publicKeys, archive.publicKeys[0]] })).toMatch(/twice/);
    expect(
      await check({ publicKeys: archive.publicKeys.map((k, i) => (i === 0 ? { ...k, jwk: { ...k.jwk, kid: keys.sig.publicJwk.kid.replace(/^./, "A") } } : k)) }),
    ).toMatch(/thumbprint|not in publicKeys/);
    expect(await check({ escrow: archive.escrow.map((e) => ({ ...e, version: e.version + 1 })) })).toMatch(/1, 2, 3/);
    expect(await check({ escrow: archive.escrow.map((e, i) => (i === 0 ? { ...e, sigKid: e.encKid } : e)) })).toMatch(/not in publicKeys/);
    expect(await check({ activity: [archive.activity[1], archive.activity[0]] })).toMatch(/activity/);
  });
});
