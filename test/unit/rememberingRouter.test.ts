/** The app's router (src/http/hono.ts): PatternRouter's answers, remembered per method and path. */
import { describe, expect, it } from "vitest";
import { PatternRouter } from "hono/router/pattern-router";
import { RememberingRouter } from "../../src/http/hono";

const ROUTES: Array<[string, string, string]> = [
  ["ALL", "*", "every request"],
  ["ALL", "/api/*", "api middleware"],
  ["GET", "/api/2fa", "2fa status"],
  ["DELETE", "/api/sessions/:id", "revoke session"],
  ["POST", "/auth/refresh", "refresh"],
];

function both() {
  const remembering = new RememberingRouter<string>();
  const plain = new PatternRouter<string>();
  for (const [method, path, handler] of ROUTES) {
    remembering.add(method, path, handler);
    plain.add(method, path, handler);
  }
  return { remembering, plain };
}

const REQUESTS: Array<[string, string]> = [
  ["GET", "/api/2fa"],
  ["POST", "/api/2fa"],
  ["DELETE", "/api/sessions/abc"],
  ["DELETE", "/api/sessions/def"],
  ["POST", "/auth/refresh"],
  ["GET", "/nothing/here"],
];

describe("RememberingRouter", () => {
  it("answers exactly what PatternRouter answers, the first time and every time after", () => {
    const { remembering, plain } = both();
    for (let round = 0; round < 3; round++) {
      for (const [method, path] of REQUESTS) expect(remembering.match(method, path)).toEqual(plain.match(method, path));
    }
  });

  it("keeps each path's own parameters", () => {
    const { remembering } = both();
    const handlers = (path: string) => remembering.match("DELETE", path)[0].map(([handler, params]) => [handler, { ...params }]);
    expect(handlers("/api/sessions/abc")).toEqual([["every request", {}], ["api middleware", {}], ["revoke session", { id: "abc" }]]);
    expect(handlers("/api/sessions/def")).toEqual([["every request", {}], ["api middleware", {}], ["revoke session", { id: "def" }]]);
    expect(handlers("/api/sessions/abc")[2]).toEqual(["revoke session", { id: "abc" }]);
  });

  it("forgets its answers when a route is added", () => {
    const { remembering } = both();
    expect(remembering.match("GET", "/late")[0].map(([h]) => h)).toEqual(["every request"]);
    remembering.add("GET", "/late", "late route");
    expect(remembering.match("GET", "/late")[0].map(([h]) => h)).toEqual(["every request", "late route"]);
  });

  it("stays right past its memory's bound (thousands of made-up paths)", () => {
    const { remembering, plain } = both();
    for (let i = 0; i < 2_000; i++) {
      const path = i % 3 === 0 ? `/api/sessions/s${i}` : `/made/up/${i}`;
      expect(remembering.match("DELETE", path)).toEqual(plain.match("DELETE", path));
    }
    for (const [method, path] of REQUESTS) expect(remembering.match(method, path)).toEqual(plain.match(method, path));
  });
});
