/**
 * A restored instance starts with 2FA off and the archive's newest escrow, which may
 * still open with the old recovery sheet and passkeys (docs/threat-model.md, finding
 * 22). With 2FA off POST /auth/escrow serves anyone, so such a blob is withheld (403)
 * until a signed-in device re-seals it for the password alone.
 */
import { describe, expect, it } from "vitest";
import { buildArchive, postRestore, withDigest } from "../helpers/archive";
import { json, OwnerClient } from "../helpers/owner";
import { selfFetch, TEST_ORIGIN, TEST_SETUP_CODE } from "../helpers/workers";

/** A format 2 blob's outline (the server reads only the recipients' kids). */
function blob(...kids: string[]): string {
  return JSON.stringify({
    protected: "eyJhbGciOiJkaXIifQ",
    recipients: ["password", ...kids].map((kid) => ({ header: { kid }, encrypted_key: "AAAA" })),
    iv: "AAAA",
    ciphertext: "AAAA",
    tag: "AAAA",
  });
}

const strangerAsks = () =>
  selfFetch(new Request(`${TEST_ORIGIN}/auth/escrow`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }));

describe("the escrow of a restored instance", { timeout: 60_000 }, () => {
  it("is withheld from a stranger while it opens with the old recovery key, and served once re-sealed for the password", async () => {
    const built = await buildArchive({ messages: 1 });
    const { digest: _old, ...rest } = built.archive;
    const newest = rest.escrow.at(-1)!;
    const archive = await withDigest({ ...rest, escrow: [...rest.escrow.slice(0, -1), { ...newest, blob: blob(`recovery:${"A".repeat(43)}`) }] });
    const restored = await postRestore(selfFetch, TEST_ORIGIN, { keys: built.keys, setupCode: TEST_SETUP_CODE, archive });
    expect(restored.status, await restored.clone().text()).toBe(201);

    const withheld = await strangerAsks();
    expect(withheld.status).toBe(403);
    expect(await json(withheld)).toMatchObject({ error: "forbidden", message: expect.stringMatching(/must save it again/) });

    // The restoring device (a fresh login, 2FA off) re-seals it.
    const owner = new OwnerClient(selfFetch, TEST_ORIGIN, built.keys);
    owner.accessToken = (await json<{ accessToken: string }>(restored)).accessToken;
    const put = await owner.api("PUT", "/api/escrow", { expectedVersion: newest.version, blob: blob() });
    expect(put.status, await put.clone().text()).toBe(200);
    const served = await strangerAsks();
    expect(served.status).toBe(200);
    expect(await json(served)).toMatchObject({ version: newest.version + 1, blob: blob() });
  });
});
