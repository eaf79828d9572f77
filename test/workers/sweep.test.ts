// The malformed-input sweep (issue #11): every route of the route table
// (src/schemas/routes.ts) gets wrong types, missing and extra fields, huge strings,
// deep nesting, invalid UTF-8, wrong content types, empty and cut-off bodies and
// methods it does not have (test/helpers/sweep.ts builds the cases from the table).
// Bearer routes are swept without a token, with a bad one, and with the owner's
// fresh token (a step-up), so validation behind authentication is reached; the
// setup-code routes are swept before the claim, with the right setup code.
// Not one answer may be a 5xx, and every 4xx must be the route's error shape
// (test/helpers/contract.ts, by the route's errorStyle).
import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { ROUTE_LIST, type RouteSpec } from "../../src/schemas/routes";
import { checkErrorResponse, checkResponseContract, ContractViolation } from "../helpers/contract";
import { casesFor, ODD_METHODS, sample, type SweepCase } from "../helpers/sweep";
import { ageLogin, claimedOwner, TEST_ORIGIN, TEST_SETUP_CODE } from "../helpers/workers";

type Route = RouteSpec & { key: string };

interface Variant {
  label: string;
  headers: Record<string, string>;
  /** How many of the route's cases this variant sends (a deterministic sample); all when absent. */
  sampleSize?: number;
}

const HINTS = { setupCode: TEST_SETUP_CODE };
/**
 * Cases per route and caller: the owner's (or, for public routes, anyone's) a larger
 * deterministic sample, the refusals before authentication a few. The whole case
 * list is about 3,000 requests; workerd under vitest answers each more slowly the
 * more it has answered (tens of ms after a few hundred), so the sweep samples to stay
 * near a minute (on a loaded 2-core machine the full sample took 8 minutes).
 */
const SAMPLE = { full: 12, few: 2 } as const;

/** Requests in flight at once: enough to keep workerd busy, few enough for a shared machine. */
const CONCURRENCY = 6;

const findings: string[] = [];
let sent = 0;
/** Requests that took long, for the report: a slow path is worth knowing about too. */
const slow: string[] = [];
const SLOW_MS = 2_000;

async function send(route: Route | null, variant: Variant, c: SweepCase): Promise<void> {
  const label = `${c.method} ${c.target.slice(0, 120)} [${variant.label}] ${c.name}`;
  let request: Request;
  try {
    request = new Request(TEST_ORIGIN + c.target, { method: c.method, headers: { ...variant.headers, ...c.headers }, body: c.body });
  } catch (err) {
    findings.push(`${label}: the request cannot be built (${String(err)})`);
    return;
  }
  const probe = new Request(request.url, { method: request.method });
  sent++;
  let response: Response;
  const startedMs = Date.now();
  try {
    response = await SELF.fetch(request);
    const tookMs = Date.now() - startedMs;
    if (tookMs > SLOW_MS) slow.push(`${label}: ${tookMs} ms`);
  } catch (err) {
    findings.push(`${label}: the fetch threw ${String(err)}`);
    return;
  }
  if (response.webSocket) {
    response.webSocket.accept();
    response.webSocket.close(1000, "sweep");
  }
  try {
    if (response.status >= 500) {
      findings.push(`${label}: ${response.status} ${(await response.clone().text()).slice(0, 200)}`);
    } else if (route && route.asset && response.status >= 400) {
      // Listed in the table but served by the assets binding (an odd method reaches the Worker).
      await checkErrorResponse(null, response, (why) => {
        throw new ContractViolation(why);
      });
    } else {
      await checkResponseContract(probe, response);
    }
  } catch (err) {
    findings.push(`${label}: ${err instanceof Error ? err.message : String(err)}`);
  }
  await response.arrayBuffer();
}

async function sendAll(route: Route | null, variant: Variant, cases: SweepCase[]): Promise<void> {
  const chosen = variant.sampleSize === undefined ? cases : sample(cases, variant.sampleSize, `${route?.key}:${variant.label}`);
  for (let i = 0; i < chosen.length; i += CONCURRENCY) {
    await Promise.all(chosen.slice(i, i + CONCURRENCY).map((c) => send(route, variant, c)));
  }
}

/** Who calls the route: for Bearer routes no token, a bad one and the owner's, so every layer is reached. */
function variantsFor(route: Route, tokens: { fresh: string; stale: string } | null): Variant[] {
  const none: Variant = { label: "anonymous", headers: {} };
  if (!tokens) return [{ ...none, sampleSize: route.auth === "setup-code" ? SAMPLE.full : SAMPLE.few }];
  switch (route.auth) {
    case "bearer":
    case "step-up":
      return [
        { ...none, sampleSize: SAMPLE.few },
        { label: "bad token", headers: { authorization: "Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln" }, sampleSize: SAMPLE.few },
        { label: "owner", headers: { authorization: `Bearer ${tokens.fresh}` }, sampleSize: SAMPLE.full },
        ...(route.auth === "step-up" ? [{ label: "owner, stale login", headers: { authorization: `Bearer ${tokens.stale}` }, sampleSize: SAMPLE.few }] : []),
      ];
    case "bearer-subprotocol":
      return [
        { label: "no upgrade", headers: { "sec-websocket-protocol": `indie.v1, bearer.${tokens.fresh}` }, sampleSize: SAMPLE.few },
        { label: "owner upgrade", headers: { upgrade: "websocket", "sec-websocket-protocol": `indie.v1, bearer.${tokens.fresh}` }, sampleSize: SAMPLE.few },
        ...[
          "",
          "indie.v1",
          "bearer.x",
          "indie.v1, bearer.",
          "indie.v1, bearer.not-a-token",
          `indie.v2, bearer.${tokens.fresh}`,
          `indie.v1, bearer.${"a".repeat(9000)}`,
          `indie.v1,,, bearer.${tokens.stale}, bearer.${tokens.fresh}`,
          "indie.v1, bearer.\u00ff",
        ].map((protocols, i): Variant => ({ label: `upgrade, protocols #${i}`, headers: { upgrade: "websocket", "sec-websocket-protocol": protocols }, sampleSize: 1 })),
      ];
    case "refresh-cookie":
      return [
        { ...none, sampleSize: SAMPLE.full },
        { label: "junk cookie", headers: { cookie: `__Secure-rt=${"j".repeat(300)}; __Secure-rt=x` }, sampleSize: SAMPLE.few },
      ];
    case "http-signature":
      return [
        { ...none, sampleSize: SAMPLE.full },
        {
          label: "junk signature",
          headers: { signature: 'keyId="https://peer.example/actor#main-key",headers="(request-target)",signature="AAAA"', digest: "SHA-256=x" },
          sampleSize: SAMPLE.few,
        },
      ];
    case "introspection-secret":
      return [
        { ...none, sampleSize: SAMPLE.few },
        { label: "introspection secret", headers: { authorization: `Bearer ${env.INDIEAUTH_INTROSPECTION_SECRET}` }, sampleSize: SAMPLE.full },
      ];
    case "indieauth-token":
      return [
        { ...none, sampleSize: SAMPLE.full },
        { label: "owner's JWT", headers: { authorization: `Bearer ${tokens.fresh}` }, sampleSize: SAMPLE.few },
      ];
    default:
      return [{ ...none, sampleSize: SAMPLE.full }];
  }
}

/** The methods the table does not list for a path, with the path's parameters filled in. */
function oddMethodCases(): Array<{ path: string; bearer: boolean; cases: SweepCase[] }> {
  const byPath = new Map<string, Route[]>();
  for (const route of ROUTE_LIST) byPath.set(route.path, [...(byPath.get(route.path) ?? []), route]);
  return [...byPath.entries()].map(([path, routes]) => {
    const concrete = path.replace(/\{[^}]+\}/g, "1");
    const listed = new Set(routes.map((r) => r.method as string));
    // Hono answers HEAD for a GET route itself.
    if (listed.has("GET")) listed.add("HEAD");
    return {
      path,
      bearer: routes.some((r) => r.auth === "bearer" || r.auth === "step-up"),
      cases: ODD_METHODS.filter((m) => !listed.has(m)).flatMap((method): SweepCase[] => [
        { name: `odd method ${method}`, method, target: concrete, headers: {} },
        ...(method === "GET" || method === "HEAD" ? [] : [{ name: `odd method ${method} with a body`, method, target: concrete, headers: { "content-type": "application/json" }, body: '{"a":' }]),
      ]),
    };
  });
}

/** Sends the cases, then expects no findings among them; the count goes to the total. */
async function sweep(route: Route | null, variants: Variant[], cases: SweepCase[]): Promise<void> {
  const before = findings.length;
  for (const variant of variants) await sendAll(route, variant, cases);
  expect(findings.slice(before)).toEqual([]);
}

const TIMEOUT_MS = 300_000;
let tokens: { fresh: string; stale: string };
let owner: Awaited<ReturnType<typeof claimedOwner>>;

// Before the claim: what an unclaimed instance says, and the setup-code routes' validation.
describe("the malformed-input sweep, before the claim", () => {
  for (const route of ROUTE_LIST) {
    it(route.key, { timeout: TIMEOUT_MS }, () => sweep(route, variantsFor(route, null), casesFor(route, { hints: HINTS })));
  }
});

describe("the malformed-input sweep, with the owner's tokens", () => {
  beforeAll(async () => {
    owner = await claimedOwner();
    const fresh = owner.accessToken!;
    await ageLogin(owner, 86_400 * 2);
    tokens = { fresh, stale: owner.accessToken! };
  });

  for (const route of ROUTE_LIST) {
    it(route.key, { timeout: TIMEOUT_MS }, () => sweep(route, variantsFor(route, tokens), casesFor(route, { hints: HINTS })));
  }

  it("methods the table does not list", { timeout: TIMEOUT_MS }, async () => {
    for (const { bearer, cases } of oddMethodCases()) {
      const variants: Variant[] = [{ label: "anonymous", headers: {}, sampleSize: SAMPLE.few }];
      if (bearer) variants.push({ label: "owner", headers: { authorization: `Bearer ${tokens.fresh}` }, sampleSize: SAMPLE.few });
      await sweep(null, variants, cases);
    }
  });

  it("left the owner logged in, and counts what it sent", { timeout: 60_000 }, async () => {
    // Nothing malformed changed who is logged in.
    expect((await owner.request("GET", "/api/sessions", { bearer: tokens.fresh })).status).toBe(200);
    console.info(`sweep: ${sent} requests over ${ROUTE_LIST.length} routes; ${findings.length} findings`);
    if (slow.length > 0) console.info(`sweep: slow answers:\n${slow.join("\n")}`);
  });
});
