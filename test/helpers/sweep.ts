/**
 * The malformed-input sweep's cases (issue #11), generated from the route table
 * (src/schemas/routes.ts, ROUTE_LIST) so that a route added to the table is swept
 * without touching the sweep: its path parameters, query and body schema, body
 * content type and size limit, and auth decide what is sent.
 *
 * A route's body schema gives a "skeleton": a value of the right shape with
 * placeholder leaves ("x", 1, the first enum member), which passes the type checks a
 * schema makes first and so carries the malformed part past them, into refinements
 * and handlers. Each case then breaks one thing: a field's type, a missing or extra
 * field, a huge string, deep nesting, invalid UTF-8, the content type, an empty or
 * cut-off body. Nothing here sends a request; test/workers/sweep.test.ts does.
 */
import type * as z from "zod/mini";
import type { RouteSpec } from "../../src/schemas/routes";

export interface SweepCase {
  /** What the case breaks, for the report. */
  name: string;
  method: string;
  /** Path and query string. */
  target: string;
  headers: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
}

export interface SweepOptions {
  /** Placeholders by field name, where "x" cannot get past an early check (the setup code). */
  hints?: Record<string, unknown>;
}

type Def = { type: string; [k: string]: unknown };
const defOf = (schema: unknown): Def => (schema as { _zod: { def: Def } })._zod.def;

/** A value of `schema`'s shape with placeholder leaves; depth-limited for recursive schemas. */
export function skeleton(schema: z.core.$ZodType, hints: Record<string, unknown> = {}, depth = 0): unknown {
  if (depth > 8) return null;
  const def = defOf(schema);
  const inner = (s: unknown) => skeleton(s as z.core.$ZodType, hints, depth + 1);
  switch (def.type) {
    case "string":
    case "template_literal":
      return "x";
    case "number":
    case "int":
    case "bigint":
      return 1;
    case "boolean":
      return true;
    case "null":
      return null;
    case "literal":
      return (def.values as unknown[])[0];
    case "enum":
      return Object.values(def.entries as Record<string, unknown>)[0];
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [key, field] of Object.entries(def.shape as Record<string, z.core.$ZodType>)) {
        out[key] = key in hints ? hints[key] : inner(field);
      }
      return out;
    }
    case "array":
      return [inner(def.element)];
    case "tuple":
      return (def.items as unknown[]).map(inner);
    case "record":
      return {};
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "nonoptional":
    case "readonly":
    case "catch":
      return inner(def.innerType);
    case "union":
      return inner((def.options as unknown[])[0]);
    case "intersection":
      return { ...(inner(def.left) as object), ...(inner(def.right) as object) };
    case "pipe":
      return inner(def.in);
    case "lazy":
      return inner((def.getter as () => unknown)());
    default:
      // any, unknown, custom, transform...: a string is as good a guess as any.
      return "x";
  }
}

/** The keys of an object schema (through wrappers), or none. */
function objectKeys(schema: z.core.$ZodType | undefined): string[] {
  if (!schema) return [];
  const def = defOf(schema);
  if (def.type === "object") return Object.keys(def.shape as object);
  if (def.type === "pipe") return objectKeys(def.in as z.core.$ZodType);
  if (["optional", "nullable", "default", "readonly"].includes(def.type)) return objectKeys(def.innerType as z.core.$ZodType);
  return [];
}

const FORM_TYPE = "application/x-www-form-urlencoded";
const isForm = (type: string) => type.split(";")[0]!.trim().toLowerCase() === FORM_TYPE;

/** A body value in the route's content type: JSON, or a form of its top-level fields. */
export function encodeBody(value: unknown, contentType: string): string {
  if (!isForm(contentType)) return JSON.stringify(value);
  if (value === null || typeof value !== "object" || Array.isArray(value)) return String(JSON.stringify(value));
  const form = new URLSearchParams();
  for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
    if (field === undefined) continue;
    form.append(key, typeof field === "string" ? field : JSON.stringify(field));
  }
  return form.toString();
}

const utf8 = (text: string) => new TextEncoder().encode(text);
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
};

/** Nested arrays `depth` deep, as JSON text (JSON.stringify of such a value would recurse). */
const nestedArrays = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
const nestedObjects = (depth: number) => '{"a":'.repeat(depth) + "1" + "}".repeat(depth);

/** Values a path segment or query parameter should never choke on; raw, already percent-encoded where it says so. */
const RAW_PARAM_VALUES: ReadonlyArray<[string, string]> = [
  ["empty", ""],
  ["negative", "-1"],
  ["zero", "0"],
  ["float", "1.5"],
  ["exponent", "1e999"],
  ["hex", "0x10"],
  ["huge number", "9".repeat(400)],
  ["huge string", "a".repeat(8000)],
  ["bad percent escape", "%ZZ"],
  ["lone percent", "%"],
  ["invalid UTF-8 escape", "%FF%FE"],
  ["overlong UTF-8 escape", "%C0%AF"],
  ["NUL", "%00"],
  ["lone surrogate escape", "%ED%A0%80"],
  ["dot-dot", ".."],
  ["encoded slash", "a%2Fb"],
  ["unicode", "%E2%80%AE%F0%9F%98%80"],
  ["array syntax", "x&x=y"],
];

/** Field values of the wrong type, or right type but hostile. Encoded as JSON text where they cannot be JS values. */
function fieldMutations(maxBytes: number): Array<[string, unknown]> {
  const huge = Math.max(1, Math.min(60_000, Math.floor(maxBytes / 2)));
  return [
    ["null", null],
    ["number", 12345],
    ["negative", -1],
    ["float", 1.5],
    ["max double", 1.7976931348623157e308],
    ["boolean", true],
    ["empty string", ""],
    ["empty array", []],
    ["empty object", {}],
    ["object", { a: "x" }],
    ["array of strings", ["x", "y"]],
    ["huge string", "A".repeat(huge)],
    ["NUL string", "\u0000"],
    ["control and RTL characters", "\u0007\u202e\ufeff"],
    ["deep nesting", JSON.parse(nestedArrays(500))],
  ];
}

/** Every case for one route, in a fixed order. */
export function casesFor(route: RouteSpec, options: SweepOptions = {}): SweepCase[] {
  const hints = options.hints ?? {};
  const cases: SweepCase[] = [];
  const paramKeys = objectKeys(route.params);
  const paramSkeleton = (route.params ? skeleton(route.params, hints) : {}) as Record<string, unknown>;
  const pathWith = (values: Record<string, string>) =>
    route.path.replace(/\{([^}]+)\}/g, (_, key: string) => values[key] ?? encodeURIComponent(String(paramSkeleton[key] ?? "x")));
  const basePath = pathWith({});
  const querySkeleton = (route.query ? skeleton(route.query, hints) : {}) as Record<string, unknown>;
  const queryOf = (entries: Array<[string, unknown]>) => new URLSearchParams(entries.map(([k, v]): [string, string] => [k, String(v)])).toString();
  const baseQuery = queryOf(Object.entries(querySkeleton));
  const withQuery = (path: string, query: string) => (query ? `${path}?${query}` : path);
  const baseTarget = withQuery(basePath, baseQuery);
  const hasBody = route.method !== "GET";
  const contentType = route.body?.contentType ?? "application/json";
  const maxBytes = route.body?.maxBytes ?? 64 * 1024;
  const add = (name: string, init: Partial<SweepCase> = {}) =>
    cases.push({ name, method: route.method, target: baseTarget, headers: {}, ...init });

  // Path parameters.
  for (const key of paramKeys) {
    for (const [name, raw] of RAW_PARAM_VALUES) add(`path {${key}}: ${name}`, { target: withQuery(pathWith({ [key]: raw }), baseQuery) });
  }

  // The query string: each declared parameter broken, and junk for every route.
  for (const key of objectKeys(route.query)) {
    for (const [name, raw] of RAW_PARAM_VALUES) {
      const others = Object.entries(querySkeleton)
        .filter(([k]) => k !== key)
        .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
      add(`query ${key}: ${name}`, { target: `${basePath}?${[...others, `${key}=${raw}`].join("&")}` });
    }
    add(`query ${key}: repeated`, { target: `${basePath}?${key}=1&${key}=2` });
    add(`query ${key}: missing`, {
      target: withQuery(basePath, queryOf(Object.entries(querySkeleton).filter(([k]) => k !== key))),
    });
  }
  add("query: junk parameters", { target: `${basePath}?${baseQuery ? `${baseQuery}&` : ""}%ZZ=%FF&a[b]=1&__proto__=x&=&&` });
  add("query: huge", { target: `${basePath}?q=${"b".repeat(16_000)}` });

  // Headers every route meets.
  add("header: Accept nothing JSON", { headers: { accept: "image/png" } });
  add("header: Authorization of another scheme", { headers: { authorization: "Basic Zm9vOmJhcg==" } });
  add("header: Authorization bearer garbage", { headers: { authorization: `Bearer ${"a.".repeat(3000)}` } });
  add("header: foreign Origin", { headers: { origin: "https://evil.example" } });

  if (!hasBody) return cases;

  // The body as a whole.
  const ct = { "content-type": contentType };
  const shape = route.body ? skeleton(route.body.schema, hints) : {};
  const good = encodeBody(shape, contentType);
  add("body: empty", { headers: ct, body: "" });
  add("body: empty, no content type");
  add("body: whitespace", { headers: ct, body: " \n\t " });
  for (const [name, text] of [
    ["null", "null"],
    ["array", "[]"],
    ["number", "1"],
    ["string", '"x"'],
    ["true", "true"],
    ["unclosed object", "{"],
    ["missing value", '{"a":}'],
    ["trailing garbage", `${good}x`],
    ["single quotes", "{'a':1}"],
    ["NaN", '{"a":NaN}'],
    ["duplicate keys", `{"a":1,"a":2}`],
    ["lone surrogate escape", `{"a":"\\ud800"}`],
    ["deep arrays", nestedArrays(Math.min(20_000, Math.floor(maxBytes / 2) - 8))],
    ["deep objects", nestedObjects(Math.min(5_000, Math.floor(maxBytes / 7) - 8))],
    ["many keys", `{${Array.from({ length: Math.min(4000, Math.floor(maxBytes / 12)) }, (_, i) => `"k${i}":1`).join(",")}}`],
    ["truncated", good.slice(0, Math.floor(good.length / 2))],
    ["truncated by one byte", good.slice(0, -1)],
    ["byte order mark", `\ufeff${good}`],
  ] as const) {
    add(`body: ${name}`, { headers: ct, body: text });
  }
  add("body: invalid UTF-8", { headers: ct, body: concat(utf8('{"a":"'), new Uint8Array([0xff, 0xfe, 0xc0, 0xaf]), utf8('"}')) });
  // A placeholder string of the skeleton with bytes that are not UTF-8 inside it.
  const at = isForm(contentType) ? good.indexOf("=x") : good.indexOf('"x"');
  if (at >= 0) {
    add("body: skeleton with invalid UTF-8 in a string", {
      headers: ct,
      body: concat(utf8(good.slice(0, at + 2)), new Uint8Array([0xed, 0xa0, 0x80, 0xff]), utf8(good.slice(at + 2))),
    });
  }
  add("body: UTF-16", { headers: { "content-type": `${contentType}; charset=utf-16` }, body: new Uint8Array(new Uint16Array([...good].map((c) => c.charCodeAt(0))).buffer) });
  add("body: over the limit", { headers: ct, body: `"${"z".repeat(maxBytes)}"` });
  for (const type of ["text/plain", "application/x-www-form-urlencoded", "application/json", "multipart/form-data; boundary=x", "application/xml", "garbage/%%%", ""]) {
    if (type === contentType) continue;
    const body = isForm(type) ? encodeBody(shape, type) : good;
    add(`content type: ${type || "empty header"}`, { headers: { "content-type": type }, body });
  }
  add("content type: none", { body: good });

  if (!route.body) {
    add("body: an unexpected object", { headers: ct, body: good === "{}" ? '{"a":1}' : good });
    return cases;
  }
  add("body: skeleton", { headers: ct, body: good });

  // Field by field: each top-level field (and each of an object field's own fields) broken alone.
  if (shape !== null && typeof shape === "object" && !Array.isArray(shape)) {
    const object = shape as Record<string, unknown>;
    const mutations = fieldMutations(maxBytes);
    const sendWith = (name: string, value: Record<string, unknown>) => add(name, { headers: ct, body: encodeBody(value, contentType) });
    for (const key of Object.keys(object)) {
      const { [key]: _dropped, ...without } = object;
      sendWith(`field ${key}: missing`, without);
      for (const [name, value] of mutations) sendWith(`field ${key}: ${name}`, { ...object, [key]: value });
      const inner = object[key];
      if (inner !== null && typeof inner === "object" && !Array.isArray(inner)) {
        for (const innerKey of Object.keys(inner)) {
          const { [innerKey]: _gone, ...innerWithout } = inner as Record<string, unknown>;
          sendWith(`field ${key}.${innerKey}: missing`, { ...object, [key]: innerWithout });
          for (const [name, value] of mutations.slice(0, 8)) {
            sendWith(`field ${key}.${innerKey}: ${name}`, { ...object, [key]: { ...(inner as object), [innerKey]: value } });
          }
        }
      }
    }
    sendWith("field: extra", { ...object, unexpected: "x" });
    add("field: __proto__ and constructor", {
      headers: ct,
      body: isForm(contentType) ? `${good}&__proto__=x&constructor=y` : `{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}},${good.slice(1)}`,
    });
  }
  return cases;
}

/**
 * Every method the sweep tries on a path that the table does not list for it.
 * workerd's Request refuses a method outside the ones it knows ("FOO": "Invalid HTTP
 * method string"), so the extension method is WebDAV's PROPFIND.
 */
export const ODD_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "PROPFIND"] as const;

/** A small seeded generator (mulberry32), so a sample is the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` of `items`, chosen by a generator seeded with `seed`, in their original order. */
export function sample<T>(items: readonly T[], count: number, seed: string): T[] {
  if (items.length <= count) return [...items];
  let h = 2166136261;
  for (const ch of seed) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  const random = seededRandom(h);
  const indexes = items.map((_, i) => i);
  for (let i = indexes.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [indexes[i], indexes[j]] = [indexes[j]!, indexes[i]!];
  }
  return indexes
    .slice(0, count)
    .sort((a, b) => a - b)
    .map((i) => items[i]!);
}
