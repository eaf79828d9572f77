/**
 * Pure rules of the server hardening review: finite shallow JSON, the stored-message
 * limits and quota, the restore's setup-code header, and which peer URLs may be
 * fetched (src/schemas/jsonValue.ts, messageLimits.ts, setupCode.ts, peerFetch.ts).
 */
import { describe, expect, it } from "vitest";
import { findJsonValueProblem, MAX_JSON_DEPTH } from "../../src/schemas/jsonValue";
import { findStoredMessageProblem, STORED_MESSAGE_LIMITS } from "../../src/schemas/messageLimits";
import { checkPeerUrl, keyDocumentUrl, mayRefetchPeerKey, PEER_KEY_REFETCH_COOLDOWN_MS } from "../../src/domain/peerFetch";
import { setupCodeFromAuthorization } from "../../src/domain/setupCode";

const nest = (depth: number): unknown => (depth === 0 ? 1 : [nest(depth - 1)]);

describe("findJsonValueProblem", () => {
  it("accepts plain JSON up to the depth limit", () => {
    expect(findJsonValueProblem({ a: [1, "x", null, true, { b: -0.5 }] })).toBeNull();
    expect(findJsonValueProblem(nest(MAX_JSON_DEPTH))).toBeNull();
  });
  it("refuses non-finite numbers, deeper nesting, and what JSON cannot hold", () => {
    expect(findJsonValueProblem({ n: Infinity })).toBe("not_finite");
    expect(findJsonValueProblem([NaN])).toBe("not_finite");
    expect(findJsonValueProblem(nest(MAX_JSON_DEPTH + 1))).toBe("too_deep");
    expect(findJsonValueProblem({ d: new Date(0) })).toBe("not_json");
    expect(findJsonValueProblem({ f: () => 1 })).toBe("not_json");
  });
  it("walks 100,000 levels without overflowing the stack", () => {
    const deep = JSON.parse(`${"[".repeat(100_000)}${"]".repeat(100_000)}`) as unknown;
    expect(findJsonValueProblem(deep)).toBe("too_deep");
  });
});

describe("stored-message limits", () => {
  it("holds jwe and from to the limits restore checks", () => {
    expect(findStoredMessageProblem({ jwe: "a".repeat(STORED_MESSAGE_LIMITS.jweChars), from: null })).toBeNull();
    expect(findStoredMessageProblem({ jwe: "a".repeat(STORED_MESSAGE_LIMITS.jweChars + 1), from: null })).toBe("jwe_too_long");
    expect(findStoredMessageProblem({ jwe: "a", from: "f".repeat(STORED_MESSAGE_LIMITS.fromChars + 1) })).toBe("from_too_long");
  });
});

describe("setupCodeFromAuthorization", () => {
  it("reads Authorization: Setup <code>, the scheme case-insensitive", () => {
    expect(setupCodeFromAuthorization("Setup ABCD-EFGH")).toBe("ABCD-EFGH");
    expect(setupCodeFromAuthorization("setup   ABCD ")).toBe("ABCD");
    expect(setupCodeFromAuthorization("Bearer ABCD")).toBeNull();
    expect(setupCodeFromAuthorization("Setup ")).toBeNull();
    expect(setupCodeFromAuthorization(undefined)).toBeNull();
  });
});

describe("checkPeerUrl", () => {
  const strict = { allowInsecure: false, selfOrigin: "https://id.example.org" };
  it("allows https on the default port with a host name", () => {
    expect(checkPeerUrl("https://mastodon.example/users/alice#main-key", strict).ok).toBe(true);
  });
  it("refuses IP literals in any spelling, ports, credentials, other schemes and the own origin", () => {
    const reasons = [
      "https://192.168.1.1/a",
      "https://3232235777/a",
      "https://0300.0250.1.1/a",
      "https://[2001:db8::1]/a",
      "https://host.example:444/a",
      "https://a:b@host.example/a",
      "http://host.example/a",
      "ftp://host.example/a",
      "https://id.example.org/actor#main-key",
      "not a url",
    ].map((u) => {
      const v = checkPeerUrl(u, strict);
      return v.ok ? "ok" : v.reason;
    });
    expect(reasons).toEqual(["ip_literal", "ip_literal", "ip_literal", "ip_literal", "port", "credentials", "scheme", "scheme", "own_origin", "malformed"]);
  });
  it("drops the fragment for the document URL", () => {
    expect(keyDocumentUrl("https://host.example/users/x#main-key")).toBe("https://host.example/users/x");
  });
  it("refetches a failing cached key at most once per cooldown", () => {
    expect(mayRefetchPeerKey(undefined, 0)).toBe(true);
    expect(mayRefetchPeerKey(1_000, 1_000 + PEER_KEY_REFETCH_COOLDOWN_MS - 1)).toBe(false);
    expect(mayRefetchPeerKey(1_000, 1_000 + PEER_KEY_REFETCH_COOLDOWN_MS)).toBe(true);
  });
});
