// The OpenAPI document that npm run build writes to dist/web/openapi.json
// (scripts/build-openapi.mjs): valid OpenAPI 3.1, and complete: every route of the
// route table and every route the README's API tour names is in it.
import { Validator } from "@seriousme/openapi-schema-validator";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
// @ts-expect-error: plain ESM build script
import { buildOpenApi } from "../../scripts/build-openapi.mjs";
import { ROUTE_LIST } from "../../src/schemas/routes";

interface Operation {
  responses: Record<string, { content?: Record<string, { schema?: Record<string, unknown> }> }>;
  requestBody?: { content: Record<string, { schema?: unknown }> };
  parameters?: Array<{ name: string; in: string }>;
  "x-auth": string;
}
type Document = { openapi: string; paths: Record<string, Record<string, Operation>> };

const built = (await buildOpenApi()) as { json: string; inputs: string[] };
const document = JSON.parse(built.json) as Document;

/**
 * The README's "A short tour of the API" table, as `METHOD /path` in OpenAPI's path
 * syntax: `DELETE /api/sessions[/:id]` is two routes, `:id` is `{id}`, and a query
 * string is not part of the path.
 */
function readmeTourRoutes(): string[] {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const tour = readme.split("## A short tour of the API")[1]!.split("\n## ")[0]!;
  const routes: string[] = [];
  for (const [, method, raw] of tour.matchAll(/`(GET|POST|PUT|DELETE) (\/[^`\s]*)`/g)) {
    const path = raw!.split("?")[0]!;
    const optional = path.match(/^(.*)\[(.*)\]$/);
    const paths = optional ? [optional[1]!, optional[1]! + optional[2]!] : [path];
    for (const p of paths) routes.push(`${method} ${p.replace(/:(\w+)/g, "{$1}")}`);
  }
  return routes;
}

const operationOf = (key: string) => {
  const [method, path] = key.split(" ") as [string, string];
  return document.paths[path]?.[method.toLowerCase()];
};

describe("the OpenAPI document", () => {
  it("is valid OpenAPI 3.1", async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  it("has every route of the route table, with its request and response schemas", () => {
    expect(ROUTE_LIST.length).toBeGreaterThan(30);
    for (const route of ROUTE_LIST) {
      const operation = operationOf(route.key);
      expect(operation, route.key).toBeDefined();
      expect(operation!["x-auth"]).toBe(route.auth);
      if (route.body) expect(operation!.requestBody?.content[route.body.contentType]?.schema, route.key).toBeDefined();
      for (const [status, spec] of Object.entries(route.responses)) {
        expect(operation!.responses[status], `${route.key} ${status}`).toBeDefined();
        if (spec.schema) expect(operation!.responses[status]!.content?.[spec.contentType!]?.schema, `${route.key} ${status}`).toBeDefined();
      }
      for (const code of route.errors) {
        const declared = Object.values(operation!.responses).some((r) =>
          JSON.stringify(r.content?.["application/json"]?.schema ?? {}).includes(`"${code}"`),
        );
        expect(declared, `${route.key} declares ${code}`).toBe(true);
      }
    }
  });

  it("has every route of the README's API tour", () => {
    const tour = readmeTourRoutes();
    // The tour's table has 30-odd routes; a parse that finds few has stopped matching it.
    expect(tour.length).toBeGreaterThan(25);
    expect(tour).toContain("DELETE /api/sessions/{id}");
    for (const key of tour) expect(operationOf(key), key).toBeDefined();
  });

  it("names the path parameters of parameterized paths, and nothing else as one", () => {
    for (const [path, operations] of Object.entries(document.paths)) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const operation of Object.values(operations)) {
        expect((operation.parameters ?? []).filter((p) => p.in === "path").map((p) => p.name)).toEqual(names);
      }
    }
  });

  it("is what the build wrote to dist/web/openapi.json", () => {
    // npm run build (which every test command runs first) writes it.
    const written = readFileSync(new URL("../../dist/web/openapi.json", import.meta.url), "utf8");
    expect(written).toBe(built.json);
  });
});
