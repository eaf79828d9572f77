import { describe, expect, it } from "vitest";
import {
  decideAuthorizationRequest,
  meHintMatches,
  parseAuthorizationRequest,
  type AuthorizationRequestParse,
} from "../../src/domain/indieauth/authorizationRequest";
import type { ClientIdPolicy } from "../../src/domain/indieauth/urls";
import { RFC7636_PKCE } from "../helpers/constants";

const policy: ClientIdPolicy = { allowInsecure: false, ownHost: "id.example.test" };
const ISSUER = "https://id.example.test/";
const CHALLENGE = RFC7636_PKCE.challenge;

const base: Record<string, string> = {
  response_type: "code",
  client_id: "https://app.example.com/",
  redirect_uri: "https://app.example.com/redirect",
  state: "1234567890",
  code_challenge: CHALLENGE,
  code_challenge_method: "S256",
  scope: "profile create",
  me: "https://id.example.test/",
};

const query = (overrides: Record<string, string | null> = {}, extra = "") => {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...base, ...overrides })) if (v !== null) params.set(k, v);
  return params.toString() + extra;
};

const parse = (overrides: Record<string, string | null> = {}, extra = "") => parseAuthorizationRequest(query(overrides, extra), policy);

function failure(p: AuthorizationRequestParse) {
  if (p.ok) throw new Error("expected a failure");
  return p;
}

describe("parseAuthorizationRequest: a well-formed request", () => {
  it("parses every parameter into a typed request", () => {
    const p = parse({ scope: "profile email create create" });
    expect(p).toEqual({
      ok: true,
      request: {
        clientId: "https://app.example.com/",
        redirectUri: "https://app.example.com/redirect",
        state: "1234567890",
        codeChallenge: CHALLENGE,
        requestedScopes: ["profile", "email", "create"],
        grantableScopes: ["profile", "create"],
        meHint: "https://id.example.test/",
      },
    });
  });

  it("accepts a leading ?, no scope (authentication only) and no me", () => {
    const p = parseAuthorizationRequest("?" + query({ scope: null, me: null }), policy);
    expect(p.ok && p.request.requestedScopes).toEqual([]);
    expect(p.ok && p.request.meHint).toBeNull();
  });

  it("canonicalizes client_id and redirect_uri (LS §3.4)", () => {
    const p = parse({ client_id: "https://APP.example.com", redirect_uri: "https://app.example.com:443/redirect" });
    expect(p.ok && [p.request.clientId, p.request.redirectUri]).toEqual(["https://app.example.com/", "https://app.example.com/redirect"]);
  });

  it("treats an empty parameter as absent (RFC 6749 §3.1)", () => {
    expect(parse({ scope: "" }).ok).toBe(true);
    expect(failure(parse({ state: "" })).reason).toBe("state_missing");
  });
});

describe("parseAuthorizationRequest: untrusted failures are never redirected", () => {
  it.each([
    [{ client_id: null }, "client_id_missing"],
    [{ client_id: "not a url" }, "client_id_not_a_url"],
    [{ client_id: "https://app.example.com/#frag" }, "client_id_fragment"],
    [{ client_id: "https://u:p@app.example.com/" }, "client_id_credentials"],
    [{ client_id: "https://10.0.0.1/" }, "client_id_ip_literal"],
    [{ client_id: "https://id.example.test/" }, "client_id_own_host"],
    [{ redirect_uri: null }, "redirect_uri_missing"],
    [{ redirect_uri: "/relative" }, "redirect_uri_not_a_url"],
    [{ redirect_uri: "https://app.example.com/cb#x" }, "redirect_uri_fragment"],
  ] as const)("%o → %s", (overrides, reason) => {
    const f = failure(parse(overrides));
    expect(f.kind).toBe("untrusted");
    expect(f.reason).toBe(reason);
    expect(f.description).toMatch(/\w/);
  });

  it("refuses a repeated client_id or redirect_uri: which one would we trust?", () => {
    expect(failure(parse({}, "&client_id=https%3A%2F%2Fevil.example%2F")).reason).toBe("client_id_repeated");
    expect(failure(parse({}, "&redirect_uri=https%3A%2F%2Fevil.example%2F")).reason).toBe("redirect_uri_repeated");
  });

  it("is untrusted when the client_id is bad even if everything else is bad too", () => {
    const f = failure(parse({ client_id: "https://app.example.com/#x", response_type: "token", code_challenge: null }));
    expect(f.kind).toBe("untrusted");
  });

  it("refuses an oversized query before parsing it", () => {
    expect(failure(parseAuthorizationRequest("state=" + "x".repeat(20_000), policy)).reason).toBe("query_too_long");
  });
});

describe("parseAuthorizationRequest: redirectable failures", () => {
  it.each([
    [{ response_type: null }, "response_type_missing"],
    [{ response_type: "token" }, "response_type_unsupported"],
    [{ response_type: "id" }, "response_type_unsupported"],
    [{ code_challenge: null }, "code_challenge_missing"],
    [{ code_challenge_method: null }, "code_challenge_method_unsupported"],
    [{ code_challenge_method: "plain" }, "code_challenge_method_unsupported"],
    [{ code_challenge: "short" }, "code_challenge_malformed"],
    [{ code_challenge: CHALLENGE + "A" }, "code_challenge_malformed"],
    [{ code_challenge: CHALLENGE.replace("-", "+") }, "code_challenge_malformed"],
    [{ state: null }, "state_missing"],
    [{ state: "s".repeat(2049) }, "state_too_long"],
    [{ scope: 'profile "quoted"' }, "scope_malformed"],
  ] as const)("%o → %s, with invalid_request", (overrides, reason) => {
    const f = failure(parse(overrides));
    expect(f.kind).toBe("redirectable");
    expect(f.reason).toBe(reason);
    if (f.kind !== "redirectable") return;
    expect(f.error).toBe("invalid_request");
    expect(f.clientId).toBe("https://app.example.com/");
    expect(f.redirectUri).toBe("https://app.example.com/redirect");
  });

  it("carries the state back, as sent", () => {
    const f = failure(parse({ code_challenge: null, state: "a b&c" }));
    expect(f.kind === "redirectable" && f.state).toBe("a b&c");
  });

  it("refuses any other repeated parameter, and then sends no state (which one?)", () => {
    const f = failure(parse({}, "&state=other"));
    expect(f.kind === "redirectable" && [f.reason, f.state]).toEqual(["parameter_repeated", null]);
    expect(failure(parse({}, "&scope=read")).reason).toBe("parameter_repeated");
  });

  it("ignores unknown parameters", () => {
    expect(parse({}, "&prompt=consent&nonce=x").ok).toBe(true);
  });
});

describe("decideAuthorizationRequest: redirect only to an accepted redirect_uri", () => {
  it("accepts a good request on the client's origin, whether or not the client was fetched", () => {
    expect(decideAuthorizationRequest(parse(), null, ISSUER)).toMatchObject({ kind: "ok", redirectAcceptance: "same_origin" });
    expect(decideAuthorizationRequest(parse(), [], ISSUER)).toMatchObject({ kind: "ok", redirectAcceptance: "same_origin" });
  });

  it("accepts a listed redirect_uri on another origin, and refuses an unlisted one as untrusted", () => {
    const other = parse({ redirect_uri: "https://cb.example.net/x" });
    expect(decideAuthorizationRequest(other, ["https://cb.example.net/x"], ISSUER)).toMatchObject({ kind: "ok", redirectAcceptance: "listed" });
    expect(decideAuthorizationRequest(other, ["https://cb.example.net/y"], ISSUER)).toMatchObject({ kind: "untrusted", reason: "redirect_uri_not_allowed" });
    // The client's document could not be fetched: only the same origin.
    expect(decideAuthorizationRequest(other, null, ISSUER)).toMatchObject({ kind: "untrusted", reason: "redirect_uri_not_allowed" });
  });

  it("redirects a redirectable failure with error, state and iss once the redirect_uri is accepted", () => {
    const d = decideAuthorizationRequest(parse({ code_challenge: null }), null, ISSUER);
    expect(d.kind).toBe("redirect_error");
    if (d.kind !== "redirect_error") return;
    const url = new URL(d.redirect);
    expect(url.origin + url.pathname).toBe("https://app.example.com/redirect");
    expect(url.searchParams.get("error")).toBe("invalid_request");
    expect(url.searchParams.get("state")).toBe("1234567890");
    expect(url.searchParams.get("iss")).toBe(ISSUER);
    expect(url.searchParams.get("error_description")).toMatch(/code_challenge/);
  });

  it("never redirects a redirectable failure to a redirect_uri the client did not vouch for", () => {
    const d = decideAuthorizationRequest(parse({ code_challenge: null, redirect_uri: "https://evil.example/steal" }), null, ISSUER);
    expect(d).toMatchObject({ kind: "untrusted", reason: "redirect_uri_not_allowed" });
  });

  it("passes an untrusted failure through", () => {
    expect(decideAuthorizationRequest(parse({ client_id: null }), ["https://app.example.com/redirect"], ISSUER)).toMatchObject({
      kind: "untrusted",
      reason: "client_id_missing",
    });
  });
});

describe("meHintMatches", () => {
  it("matches the owner's me after canonicalization, and anything when absent", () => {
    expect(meHintMatches(null, ISSUER)).toBe(true);
    expect(meHintMatches("https://id.example.test/", ISSUER)).toBe(true);
    expect(meHintMatches("https://ID.example.test", ISSUER)).toBe(true);
    expect(meHintMatches("id.example.test", ISSUER)).toBe(true);
    expect(meHintMatches("https://someone.else/", ISSUER)).toBe(false);
    expect(meHintMatches("user@example.com", ISSUER)).toBe(false);
  });
});
