// JWS headers and schemes over HTTP (docs/api.md §4): assertions need typ "JWT" and
// aud = ORIGIN as a string; a `crit` header is refused on assertions and access
// tokens alike, without the unhandled rejection jose would leave behind (workerd
// reports it, and the run fails with "Unhandled Rejection" even when every test
// passes).
import { env } from "cloudflare:test";
import { base64url, importJWK, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { json, type OwnerClient } from "../helpers/owner";
import { claimedOwner, connectLive, TEST_ORIGIN } from "../helpers/workers";

let owner: OwnerClient;
beforeAll(async () => {
  owner = await claimedOwner();
});

const text = (value: unknown) => base64url.encode(JSON.stringify(value));

/** A compact JWS with exactly this header and payload, validly signed with Ed25519. */
async function signRaw(header: Record<string, unknown>, payload: Record<string, unknown>, key: CryptoKey): Promise<string> {
  const input = `${text(header)}.${text(payload)}`;
  const signature = new Uint8Array(await crypto.subtle.sign("Ed25519", key, new TextEncoder().encode(input)));
  return `${input}.${base64url.encode(signature)}`;
}

async function assertionWith(header: Record<string, unknown>, claims: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return signRaw(header, { aud: TEST_ORIGIN, nonce: await owner.challenge(), iat: now, exp: now + 60, ...claims }, owner.keys.sig.privateKey);
}

const login = (assertion: string) => owner.device().request("POST", "/auth/login", { body: { assertion } });

async function expectInvalidAssertion(res: Response) {
  expect(res.status).toBe(401);
  expect(await json(res)).toMatchObject({ error: "invalid_assertion" });
}

describe("assertions", () => {
  it("need typ JWT, in any case", async () => {
    await expectInvalidAssertion(await login(await assertionWith({ alg: "Ed25519" })));
    await expectInvalidAssertion(await login(await assertionWith({ alg: "Ed25519", typ: "at+jwt" })));
    expect((await login(await assertionWith({ alg: "Ed25519", typ: "jwt" }))).status).toBe(200);
    expect((await login(await assertionWith({ alg: "EdDSA", typ: "JWT", kid: owner.keys.sig.publicJwk.kid }))).status).toBe(200);
  });

  it("need aud to be the string ORIGIN, not an array that holds it", async () => {
    await expectInvalidAssertion(await login(await assertionWith({ alg: "Ed25519", typ: "JWT" }, { aud: [TEST_ORIGIN] })));
    await expectInvalidAssertion(
      await login(await assertionWith({ alg: "Ed25519", typ: "JWT" }, { aud: [TEST_ORIGIN, "https://other.example"] })),
    );
  });

  it("with a crit header are refused with 401, validly signed or not", async () => {
    const now = Math.floor(Date.now() / 1000);
    const signed = await new SignJWT({ nonce: await owner.challenge(), aud: TEST_ORIGIN, iat: now, exp: now + 60 })
      .setProtectedHeader({ alg: "Ed25519", typ: "JWT", crit: ["urn:example:ext"], "urn:example:ext": 1 })
      .sign(owner.keys.sig.privateKey, { crit: { "urn:example:ext": true } });
    await expectInvalidAssertion(await login(signed));
    await expectInvalidAssertion(await login(await assertionWith({ alg: "Ed25519", typ: "JWT", crit: ["b64"], b64: false })));
    await expectInvalidAssertion(await login(await assertionWith({ alg: "Ed25519", typ: "JWT", crit: "oops" })));
  });

  it("with a signature that is not base64url are refused with 401", async () => {
    const [h, p, s] = (await assertionWith({ alg: "Ed25519", typ: "JWT" })).split(".");
    await expectInvalidAssertion(await login(`${h}.${p}.${s}%`));
    const [h2, p2, s2] = (await assertionWith({ alg: "Ed25519", typ: "JWT" })).split(".");
    await expectInvalidAssertion(await login(`${h2}.${p2}.${s2!.slice(0, 85)}`));
  });
});

describe("access tokens", () => {
  let instanceKey: CryptoKey;
  beforeAll(async () => {
    instanceKey = (await importJWK(JSON.parse(env.INSTANCE_SIGNING_KEY!), "EdDSA")) as CryptoKey;
  });
  const claims = () => {
    const now = Math.floor(Date.now() / 1000);
    return { sid: owner.sessionId, auth_time: now, amr: ["pop"], iss: TEST_ORIGIN, aud: TEST_ORIGIN, sub: "owner", iat: now, exp: now + 600, jti: "x" };
  };
  const critToken = () =>
    new SignJWT(claims())
      .setProtectedHeader({ alg: "EdDSA", typ: "at+jwt", crit: ["urn:example:ext"], "urn:example:ext": 1 })
      .sign(instanceKey, { crit: { "urn:example:ext": true } });

  it("with a crit header are refused with 401 on /api, though signed by the instance key", async () => {
    const res = await owner.request("GET", "/api/sessions", { bearer: await critToken() });
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: "unauthorized" });
    const plain = await new SignJWT(claims()).setProtectedHeader({ alg: "EdDSA", typ: "at+jwt" }).sign(instanceKey);
    expect((await owner.request("GET", "/api/sessions", { bearer: plain })).status).toBe(200);
  });

  it("with a crit header or a broken signature end a live socket's re-auth with 4401", async () => {
    for (const token of [await critToken(), `${owner.accessToken}%`]) {
      const { ws, frames } = await connectLive(owner.accessToken);
      await frames.expect("hello");
      ws.send(JSON.stringify({ type: "auth", accessToken: token }));
      expect(await frames.expect("error")).toMatchObject({ error: "unauthorized" });
      expect((await frames.close()).code).toBe(4401);
    }
  });
});
