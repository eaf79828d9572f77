/**
 * The direction of every import, checked by `npm run lint:deps` (part of `npm test`).
 * docs/architecture.md draws the same graph and says what each folder holds.
 *
 * Top to bottom; a layer imports only layers below it (and itself):
 *
 *   src/index.ts, src/app.ts    the Worker: mounts routes and cross-cutting middleware
 *   routes/                     thin hono handlers
 *   http/  services/            request plumbing | what several routes share (siblings: neither imports the other)
 *   instanceErrors.ts           the Durable Object's refusals as wire errors (ApiError)
 *   durable/                    the Durable Object, its stores, and the stub getter
 *   federation/                 talking to other servers (peer fetches, signing, delivery)
 *   storage/                    D1 and KV
 *   settings.ts                 Worker variables, parsed
 *   domain/                     pure rules
 *   schemas/                    zod shapes
 *   lib/  errors.ts  env.ts     leaves (env.ts names the Durable Object class, as a type only)
 *
 * The browser side: web/ → client/ → a few leaves of src/ (schemas, domain, lib/bytes).
 */

/** A rule: files under `from` may import from src/ only what `allowed` matches. */
function onlyImports(name, from, allowed, comment) {
  return {
    name,
    comment,
    severity: "error",
    from: { path: from },
    to: { path: "^src/", pathNot: allowed },
  };
}

const LEAVES = "src/(lib/|errors\\.ts$|env\\.ts$)";

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "A cycle has no direction. (Type-only imports are left out: env.ts names the object's class for its binding type.)",
      severity: "error",
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
    onlyImports(
      "app-imports-down",
      "^src/(app|index)\\.ts$",
      `^(src/(app\\.ts$|routes/|http/|durable/|settings\\.ts$)|${LEAVES})`,
      "The Worker entry mounts routes and middleware, and exports the Durable Object class.",
    ),
    onlyImports(
      "routes-import-down",
      "^src/routes/",
      `^(src/(routes/|http/|services/|instanceErrors\\.ts$|durable/|federation/|storage/|settings\\.ts$|domain/|schemas/)|${LEAVES})`,
      "Routes sit on top: nothing but app.ts imports them.",
    ),
    onlyImports(
      "http-does-not-import-services",
      "^src/http/",
      `^(src/(http/|instanceErrors\\.ts$|durable/(stub|instance|factors|twoFactor|sessions)\\.ts$|settings\\.ts$|domain/|schemas/)|${LEAVES})`,
      "http/ is request plumbing (auth, rate limits, cookies, validation): it reaches the object through durable/stub.ts, never through services/.",
    ),
    onlyImports(
      "services-do-not-import-http",
      "^src/services/",
      `^(src/(services/|instanceErrors\\.ts$|durable/|federation/|storage/|settings\\.ts$|domain/|schemas/)|${LEAVES})`,
      "Services take plain values (a stub, an origin, a database), never hono's Context: no http/, no routes/.",
    ),
    onlyImports(
      "instance-errors-map-object-results",
      "^src/instanceErrors\\.ts$",
      `^(src/durable/|${LEAVES})`,
      "The one place that turns the object's results into ApiErrors.",
    ),
    onlyImports(
      "durable-imports-down",
      "^src/durable/",
      `^(src/(durable/|federation/|storage/|settings\\.ts$|domain/|schemas/)|src/lib/|src/env\\.ts$)`,
      "The object never imports the Worker's layers (routes, http, services) and never builds wire errors: RPC returns plain results.",
    ),
    onlyImports(
      "federation-imports-down",
      "^src/federation/",
      `^(src/(federation/|storage/|domain/|schemas/)|src/lib/|src/env\\.ts$)`,
      "Outbound federation I/O is shared by services/ (inbox) and durable/ (outbox), so it sits below both.",
    ),
    onlyImports(
      "storage-imports-down",
      "^src/storage/",
      `^(src/(storage/|domain/|schemas/)|src/lib/|src/env\\.ts$)`,
      "D1 and KV access: rows in, shapes out.",
    ),
    onlyImports("settings-imports-down", "^src/settings\\.ts$", "^src/(domain/|schemas/|env\\.ts$)", "Settings are parsed from env; their types and defaults may come from domain/ and schemas/."),
    onlyImports("domain-is-pure", "^src/domain/", "^src/(domain/|schemas/|lib/)", "Pure rules: no storage, no HTTP, no Durable Object."),
    onlyImports("schemas-are-leaves", "^src/schemas/", "^src/(schemas/|lib/|errors\\.ts$)", "zod shapes depend on nothing project-internal but lib/ (and the route table, scripts and tests only, on ERROR_STATUS)."),
    onlyImports("lib-is-a-leaf", "^src/lib/", "^src/lib/", "Small helpers with no project dependencies."),
    onlyImports("errors-is-a-leaf", "^src/errors\\.ts$", "^src/schemas/errors\\.ts$", "ApiError depends on nothing but the error-code enum (a type-only import: the Worker does not bundle it)."),
    {
      name: "client-uses-only-shared-leaves",
      comment: "The browser SDK shares shapes and byte helpers with the server, nothing else (it is bundled for the browser).",
      severity: "error",
      from: { path: "^client/", pathNot: "^client/test/" },
      to: { path: "^(src/|web/)", pathNot: "^src/(schemas/|domain/|lib/bytes\\.ts$)" },
    },
    {
      name: "web-uses-client-and-schemas",
      comment: "The web app talks to the server through client/ and shares only its shapes.",
      severity: "error",
      from: { path: "^web/" },
      to: { path: "^src/", pathNot: "^src/schemas/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)(node_modules|dist|\\.wrangler)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".mts", ".mjs", ".js", ".d.mts"] },
  },
};
