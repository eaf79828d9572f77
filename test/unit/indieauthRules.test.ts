import { describe, expect, it } from "vitest";
import { buildMetadata, discoveryLinkHeader, indieAuthServerFor } from "../../src/domain/indieauth/metadata";
import { challengesEqual, isValidCodeVerifier, s256Challenge, verifyS256 } from "../../src/domain/indieauth/pkce";
import { appendQuery, codeRedirect, errorRedirect } from "../../src/domain/indieauth/redirects";
import { formatScope, grantableScopes, grantedScopes, includesProfile, narrowedScopes, parseScope } from "../../src/domain/indieauth/scopes";
import { indieAuthMetadataSchema } from "../../src/schemas/oauth";
import { RFC7636_PKCE } from "../helpers/constants";

const ISSUER = "https://id.example.test/";

describe("PKCE (RFC 7636)", () => {
  // RFC 7636 Appendix B.
  const { verifier, challenge } = RFC7636_PKCE;

  it("computes the S256 challenge of RFC 7636 Appendix B", async () => {
    expect(await s256Challenge(verifier)).toBe(challenge);
    expect(await verifyS256(verifier, challenge)).toBe(true);
  });

  it("refuses a wrong verifier and a malformed challenge", async () => {
    expect(await verifyS256(verifier.replace("d", "e"), challenge)).toBe(false);
    expect(await verifyS256(verifier, challenge + "=")).toBe(false);
    // A verifier equal to the challenge is the `plain` method, which is not S256.
    expect(await verifyS256(challenge, challenge)).toBe(false);
  });

  it("checks the verifier's syntax: 43 to 128 characters of [A-Za-z0-9-._~] (§4.1)", () => {
    expect(isValidCodeVerifier("a".repeat(43))).toBe(true);
    expect(isValidCodeVerifier("a".repeat(128))).toBe(true);
    expect(isValidCodeVerifier("Az09-._~".repeat(6))).toBe(true);
    expect(isValidCodeVerifier("a".repeat(42))).toBe(false);
    expect(isValidCodeVerifier("a".repeat(129))).toBe(false);
    expect(isValidCodeVerifier("a".repeat(42) + "+")).toBe(false);
    expect(isValidCodeVerifier("a".repeat(42) + "é")).toBe(false);
    expect(isValidCodeVerifier("a".repeat(42) + " ")).toBe(false);
  });

  it("compares challenges exactly", () => {
    expect(challengesEqual(challenge, challenge)).toBe(true);
    expect(challengesEqual(challenge, challenge.slice(0, -1) + "N")).toBe(false);
    expect(challengesEqual(challenge, challenge.slice(1))).toBe(false);
  });
});

describe("scopes (RFC 6749 §3.3, §14)", () => {
  it("parses space-separated tokens, deduplicated in order", () => {
    expect(parseScope("profile create  update profile")).toEqual({ ok: true, scopes: ["profile", "create", "update"] });
    expect(parseScope(null)).toEqual({ ok: true, scopes: [] });
    expect(parseScope("")).toEqual({ ok: true, scopes: [] });
    expect(parseScope("x:read https://example.com/scope")).toEqual({ ok: true, scopes: ["x:read", "https://example.com/scope"] });
  });

  it("refuses tokens outside RFC 6749's scope-token grammar and oversized lists", () => {
    expect(parseScope('a"b')).toEqual({ ok: false, reason: "malformed" });
    expect(parseScope("a\\b")).toEqual({ ok: false, reason: "malformed" });
    expect(parseScope("a\tb")).toEqual({ ok: false, reason: "malformed" });
    expect(parseScope("caf\u00e9")).toEqual({ ok: false, reason: "malformed" });
    expect(parseScope("x".repeat(65))).toEqual({ ok: false, reason: "too_long" });
    expect(parseScope(Array.from({ length: 33 }, (_, i) => `s${i}`).join(" "))).toEqual({ ok: false, reason: "too_many" });
  });

  it("never offers email; any other scope is grantable as text", () => {
    expect(grantableScopes(["profile", "email", "create", "micropub:anything"])).toEqual(["profile", "create", "micropub:anything"]);
  });

  it("grants all grantable scopes when the owner names none, and only a subset otherwise", () => {
    const grantable = ["profile", "create", "update"];
    expect(grantedScopes(grantable, undefined)).toEqual({ ok: true, scopes: grantable });
    expect(grantedScopes(grantable, "update profile")).toEqual({ ok: true, scopes: ["profile", "update"] });
    expect(grantedScopes(grantable, "")).toEqual({ ok: true, scopes: [] });
    expect(grantedScopes(grantable, "profile delete")).toEqual({ ok: false, reason: "not_requested" });
    expect(grantedScopes(["profile"], "email")).toEqual({ ok: false, reason: "not_requested" });
  });

  it("lets a refresh narrow the scopes, never widen them", () => {
    const grant = ["profile", "create", "update"];
    expect(narrowedScopes(grant, null)).toEqual({ ok: true, scopes: grant });
    expect(narrowedScopes(grant, "")).toEqual({ ok: true, scopes: grant });
    expect(narrowedScopes(grant, "update create")).toEqual({ ok: true, scopes: ["create", "update"] });
    expect(narrowedScopes(grant, "create delete")).toEqual({ ok: false, reason: "not_requested" });
    expect(narrowedScopes(grant, 'bad"')).toEqual({ ok: false, reason: "malformed" });
  });

  it("formats and tests for profile", () => {
    expect(formatScope(["profile", "create"])).toBe("profile create");
    expect(includesProfile(["create", "profile"])).toBe(true);
    expect(includesProfile(["create"])).toBe(false);
  });
});

describe("authorization redirects (RFC 6749 §4.1.2, RFC 9207)", () => {
  it("appends code, state and iss, with iss exactly the issuer", () => {
    const url = new URL(codeRedirect({ redirectUri: "https://app.example.com/cb", code: "c0de", state: "s t&=", issuer: ISSUER }));
    expect(url.searchParams.get("code")).toBe("c0de");
    expect(url.searchParams.get("state")).toBe("s t&=");
    expect(url.searchParams.get("iss")).toBe(ISSUER);
    expect([...url.searchParams.keys()]).toEqual(["code", "state", "iss"]);
  });

  it("keeps the redirect URI's own query byte for byte", () => {
    expect(appendQuery("https://app.example.com/cb?a=1%20b&x", [["code", "c"]])).toBe("https://app.example.com/cb?a=1%20b&x&code=c");
    expect(appendQuery("https://app.example.com/cb?", [["code", "c"]])).toBe("https://app.example.com/cb?code=c");
    expect(appendQuery("https://app.example.com/cb?a=1&", [["code", "c"]])).toBe("https://app.example.com/cb?a=1&code=c");
    expect(appendQuery("com.example.app:/oauth", [["code", "c"]])).toBe("com.example.app:/oauth?code=c");
  });

  it("builds error redirects with error, state and iss; state left out when the request had none", () => {
    const denied = new URL(errorRedirect({ redirectUri: "https://app.example.com/cb?k=v", error: "access_denied", state: "xyz", issuer: ISSUER }));
    expect(Object.fromEntries(denied.searchParams)).toEqual({ k: "v", error: "access_denied", state: "xyz", iss: ISSUER });
    const noState = new URL(errorRedirect({ redirectUri: "https://app.example.com/cb", error: "invalid_request", description: "state is missing.", state: null, issuer: ISSUER }));
    expect(Object.fromEntries(noState.searchParams)).toEqual({ error: "invalid_request", error_description: "state is missing.", iss: ISSUER });
  });
});

describe("metadata (RFC 8414, §14)", () => {
  it("publishes the §14 document with issuer = me", () => {
    const m = buildMetadata(ISSUER);
    expect(indieAuthMetadataSchema.parse(m)).toEqual(m);
    expect(m).toMatchObject({
      issuer: ISSUER,
      authorization_endpoint: "https://id.example.test/indieauth/authorize",
      token_endpoint: "https://id.example.test/indieauth/token",
      introspection_endpoint: "https://id.example.test/indieauth/introspect",
      revocation_endpoint: "https://id.example.test/indieauth/revoke",
      userinfo_endpoint: "https://id.example.test/indieauth/userinfo",
      code_challenge_methods_supported: ["S256"],
      authorization_response_iss_parameter_supported: true,
    });
    expect(m.scopes_supported).toContain("profile");
    expect(m.scopes_supported).not.toContain("email");
    // LS §3.1: the issuer is a prefix of the metadata URL.
    expect("https://id.example.test/.well-known/oauth-authorization-server".startsWith(m.issuer)).toBe(true);
  });

  it("builds the discovery Link header for GET / and HEAD /", () => {
    expect(discoveryLinkHeader(ISSUER)).toBe(
      '<https://id.example.test/.well-known/oauth-authorization-server>; rel="indieauth-metadata", ' +
        '<https://id.example.test/indieauth/authorize>; rel="authorization_endpoint", ' +
        '<https://id.example.test/indieauth/token>; rel="token_endpoint"',
    );
  });
});

describe("indieAuthServerFor", () => {
  it("derives me, issuer and the client_id policy from ORIGIN", () => {
    expect(indieAuthServerFor("https://id.example.test", { allowInsecure: false })).toEqual({
      ok: true,
      value: { me: ISSUER, issuer: ISSUER, clientIdPolicy: { allowInsecure: false, ownHost: "id.example.test" } },
    });
    expect(indieAuthServerFor("http://localhost:8787", { allowInsecure: true })).toMatchObject({
      ok: true,
      value: { me: "http://localhost:8787/", clientIdPolicy: { ownHost: "localhost:8787" } },
    });
    expect(indieAuthServerFor("https://id.example.test:8443", { allowInsecure: false })).toEqual({ ok: false, reason: "port" });
  });
});
