import { describe, expect, it } from "vitest";
import { acceptRedirectUri, checkClientId, checkRedirectUriSyntax, profileUrlFor, type ClientIdPolicy } from "../../src/domain/indieauth/urls";

const strict: ClientIdPolicy = { allowInsecure: false, ownHost: "id.example.test" };
const insecure: ClientIdPolicy = { allowInsecure: true, ownHost: "localhost:8787" };

const reason = (raw: string, policy = strict) => {
  const r = checkClientId(raw, policy);
  return r.ok ? "ok" : r.reason;
};

describe("client_id (IndieAuth LS §3.3 and docs/api.md §14)", () => {
  it("accepts an https URL with a path, and returns its canonical form", () => {
    expect(checkClientId("https://app.example.com/", strict)).toEqual({ ok: true, value: "https://app.example.com/" });
    expect(checkClientId("https://App.Example.COM", strict)).toEqual({ ok: true, value: "https://app.example.com/" });
    expect(checkClientId("https://app.example.com/client?x=1", strict)).toEqual({ ok: true, value: "https://app.example.com/client?x=1" });
    expect(checkClientId("https://app.example.com:443/", strict)).toEqual({ ok: true, value: "https://app.example.com/" });
  });

  it("refuses a missing or unparsable client_id", () => {
    expect(reason("")).toBe("missing");
    expect(checkClientId(null, strict)).toEqual({ ok: false, reason: "missing" });
    expect(reason("app.example.com")).toBe("not_a_url");
    expect(reason("https://app.example.com/a b")).toBe("not_a_url");
    expect(reason(" https://app.example.com/")).toBe("not_a_url");
    expect(reason("https://app.example.com\\@evil.example/")).toBe("not_a_url");
    expect(reason("https://" + "a".repeat(2050) + ".example/")).toBe("too_long");
  });

  it("refuses other schemes, and http outside insecure loopback", () => {
    expect(reason("ftp://app.example.com/")).toBe("scheme");
    expect(reason("mailto:app@example.com")).toBe("scheme");
    expect(reason("http://app.example.com/")).toBe("scheme");
    expect(reason("http://app.example.com/", insecure)).toBe("scheme");
  });

  it("refuses a fragment, even an empty one", () => {
    expect(reason("https://app.example.com/#me")).toBe("fragment");
    expect(reason("https://app.example.com/#")).toBe("fragment");
  });

  it("refuses credentials, even an empty user", () => {
    expect(reason("https://user:pass@app.example.com/")).toBe("credentials");
    expect(reason("https://user@app.example.com/")).toBe("credentials");
    expect(reason("https://@app.example.com/")).toBe("credentials");
  });

  it("refuses . and .. path segments, percent-encoded ones too", () => {
    expect(reason("https://app.example.com/foo/../bar")).toBe("dot_segment");
    expect(reason("https://app.example.com/./bar")).toBe("dot_segment");
    expect(reason("https://app.example.com/foo/%2e%2E/bar")).toBe("dot_segment");
    expect(reason("https://app.example.com/foo/.%2e")).toBe("dot_segment");
    expect(reason("https://app.example.com/foo/..bar/.x")).toBe("ok");
    // A dot segment in the query is no path segment.
    expect(reason("https://app.example.com/?p=/../x")).toBe("ok");
  });

  it("refuses IP literals in every spelling the URL parser normalises", () => {
    expect(reason("https://172.28.92.51/")).toBe("ip_literal");
    expect(reason("https://0xac.0x1c.0x5c.0x33/")).toBe("ip_literal");
    expect(reason("https://2886753331/")).toBe("ip_literal");
    expect(reason("https://[2001:db8::1]/")).toBe("ip_literal");
    expect(reason("https://10.0.0.1/", insecure)).toBe("ip_literal");
  });

  it("refuses a non-default port", () => {
    expect(reason("https://app.example.com:8443/")).toBe("port");
  });

  it("refuses single-label hosts and a trailing dot", () => {
    expect(reason("https://intranet/")).toBe("not_a_domain");
    expect(reason("https://app.example.com./")).toBe("not_a_domain");
  });

  it("refuses loopback clients unless insecure mode allows them, then on any port and scheme", () => {
    expect(reason("https://localhost/")).toBe("loopback");
    expect(reason("http://127.0.0.1:3000/")).toBe("loopback");
    expect(reason("http://[::1]:3000/")).toBe("loopback");
    expect(reason("http://localhost:3000/", insecure)).toBe("ok");
    expect(reason("http://127.0.0.1:3000/cb", insecure)).toBe("ok");
    expect(reason("http://[::1]/", insecure)).toBe("ok");
    expect(reason("http://app.localhost:3000/", insecure)).toBe("ok");
    // Still no fragment or credentials on loopback.
    expect(reason("http://localhost:3000/#x", insecure)).toBe("fragment");
  });

  it("refuses the instance's own host", () => {
    expect(reason("https://id.example.test/")).toBe("own_host");
    expect(reason("https://ID.example.test/app")).toBe("own_host");
    expect(reason("http://localhost:8787/", insecure)).toBe("own_host");
    // Another port of the same loopback name is another server in development.
    expect(reason("http://localhost:3000/", insecure)).toBe("ok");
    expect(reason("https://sub.id.example.test/")).toBe("ok");
  });
});

describe("redirect_uri syntax", () => {
  it("accepts absolute URLs, custom schemes included, in canonical form", () => {
    expect(checkRedirectUriSyntax("https://App.example.com/cb?x=1")).toEqual({ ok: true, value: "https://app.example.com/cb?x=1" });
    expect(checkRedirectUriSyntax("com.example.app:/oauth")).toEqual({ ok: true, value: "com.example.app:/oauth" });
  });

  it("refuses missing, relative, fragment, credentials and script schemes", () => {
    const r = (raw: string | null) => {
      const c = checkRedirectUriSyntax(raw);
      return c.ok ? "ok" : c.reason;
    };
    expect(r(null)).toBe("missing");
    expect(r("/cb")).toBe("not_a_url");
    expect(r("https://app.example.com/cb#x")).toBe("fragment");
    expect(r("https://u:p@app.example.com/cb")).toBe("credentials");
    expect(r("javascript:alert(1)")).toBe("scheme");
    expect(r("data:text/html,hi")).toBe("scheme");
  });
});

describe("redirect_uri acceptance (LS §5.2, §4.2.2)", () => {
  const client = "https://app.example.com/";

  it("accepts the client's scheme, host and port without a listing", () => {
    expect(acceptRedirectUri(client, "https://app.example.com/callback?a=1", null)).toBe("same_origin");
    expect(acceptRedirectUri(client, "https://app.example.com/callback", [])).toBe("same_origin");
  });

  it("refuses another origin unless listed, exactly", () => {
    expect(acceptRedirectUri(client, "https://other.example.com/cb", null)).toBeNull();
    expect(acceptRedirectUri(client, "http://app.example.com/cb", null)).toBeNull();
    expect(acceptRedirectUri(client, "https://app.example.com:8443/cb", null)).toBeNull();
    expect(acceptRedirectUri(client, "https://other.example.com/cb", ["https://other.example.com/cb"])).toBe("listed");
    expect(acceptRedirectUri(client, "https://other.example.com/cb", ["https://other.example.com/cb/"])).toBeNull();
    expect(acceptRedirectUri(client, "https://other.example.com/cb", ["https://other.example.com/cb?x"])).toBeNull();
    // Listed entries compare in canonical form (host case, default port).
    expect(acceptRedirectUri(client, "https://other.example.com/cb", ["https://OTHER.example.com:443/cb"])).toBe("listed");
  });

  it("accepts a custom scheme only when listed", () => {
    expect(acceptRedirectUri(client, "com.example.app:/oauth", null)).toBeNull();
    expect(acceptRedirectUri(client, "com.example.app:/oauth", ["https://app.example.com/cb"])).toBeNull();
    expect(acceptRedirectUri(client, "com.example.app:/oauth", ["com.example.app:/oauth"])).toBe("listed");
  });
});

describe("the owner's profile URL `me` (§14, LS §3.2)", () => {
  it("is new URL(ORIGIN).href: a trailing slash, lowercase host", () => {
    expect(profileUrlFor("https://ID.Example.org", { allowInsecure: false })).toEqual({ ok: true, value: "https://id.example.org/" });
  });

  it("is unavailable with a port, an IP address or plain http, unless insecure mode", () => {
    const r = (origin: string, allowInsecure = false) => {
      const p = profileUrlFor(origin, { allowInsecure });
      return p.ok ? p.value : p.reason;
    };
    expect(r("https://id.example.org:8443")).toBe("port");
    expect(r("https://203.0.113.7")).toBe("ip_literal");
    expect(r("https://[2001:db8::1]")).toBe("ip_literal");
    expect(r("http://id.example.org")).toBe("scheme");
    expect(r("http://localhost:8787", true)).toBe("http://localhost:8787/");
    expect(r("https://203.0.113.7", true)).toBe("https://203.0.113.7/");
    expect(r("not a url")).toBe("not_a_url");
  });
});
