#!/usr/bin/env node
// Builds the OpenAPI 3.1 document of the API from the route table
// (src/schemas/routes.ts) and its zod schemas, with zod's own z.toJSONSchema
// (JSON Schema 2020-12, which is OpenAPI 3.1's dialect). scripts/build-web.mjs
// calls it and writes the result into dist/web/openapi.json, which the Worker
// serves as a static asset at /openapi.json; the Worker never imports the table.
//
// Run alone, it prints the document: `node scripts/build-openapi.mjs > openapi.json`.
import { build } from "esbuild";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Loads the TypeScript route table: esbuild bundles it (with zod) into one ES
 * module in memory, which is imported from a data: URL. Returns the module and the
 * files it was built from, for build-web.mjs's up-to-date check.
 */
async function loadRouteTable() {
  const result = await build({
    absWorkingDir: root,
    stdin: {
      contents: [
        'export { ROUTE_LIST, errorStatus } from "./src/schemas/routes.ts";',
        'export { errorResponseSchema } from "./src/schemas/errors.ts";',
        // Every exported schema becomes a named component (see namedSchemas).
        'export { oauthErrorResponseSchema } from "./src/schemas/oauth.ts";',
        ...["api", "apiResponses", "archive", "errors", "federation", "indieauth", "messageResponses", "messages", "oauth", "responses"].map(
          (name) => `export * as ${name}Schemas from "./src/schemas/${name}.ts";`,
        ),
        'export * as z from "zod/mini";',
      ].join("\n"),
      resolveDir: root,
      sourcefile: "openapi-entry.ts",
      loader: "ts",
    },
    bundle: true,
    format: "esm",
    platform: "node",
    write: false,
    metafile: true,
    logLevel: "warning",
  });
  const code = result.outputFiles[0].text;
  const module = await import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`);
  // Files of this project only (the stdin entry has no file; zod is covered by the lockfile).
  const inputs = Object.keys(result.metafile.inputs).filter((input) => !input.startsWith("node_modules/") && existsSync(join(root, input)));
  return { module, inputs };
}

const STATUS_TEXT = {
  400: "Bad request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not found",
  409: "Conflict",
  413: "Payload too large",
  429: "Too many requests",
};

const SECURITY_SCHEMES = {
  bearer: {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "The access token from /auth/login, /auth/setup, /auth/restore, /auth/refresh or /auth/reauth (docs/api.md §4).",
  },
  refreshCookie: {
    type: "apiKey",
    in: "cookie",
    name: "__Secure-rt",
    description: "The rotating refresh cookie: HttpOnly; Secure; SameSite=Strict; Path=/auth (docs/api.md §4, §5).",
  },
  introspectionSecret: {
    type: "http",
    scheme: "bearer",
    description: "The INDIEAUTH_INTROSPECTION_SECRET, a Worker secret the dev and deploy commands create, for the owner's resource servers (docs/api.md §14).",
  },
  indieAuthToken: {
    type: "http",
    scheme: "bearer",
    description: "An IndieAuth access token from POST /indieauth/token (docs/api.md §14); never accepted by /api, /auth or the live channel.",
  },
  httpSignature: {
    type: "apiKey",
    in: "header",
    name: "Signature",
    description:
      "An HTTP signature by a federated server: draft-cavage-12 (`Signature`, with `Digest`) or RFC 9421 (`Signature` and `Signature-Input`, with `Content-Digest`) (docs/api.md §11).",
  },
};

const AUTH_NOTES = {
  "step-up": "Step-up: the access token's login must be at most STEP_UP_MAX_AGE_S old, with a second factor when 2FA is on (docs/api.md §4).",
  "bearer-subprotocol":
    "The access token travels as the WebSocket subprotocol `bearer.<token>`, next to `indie.v1` (docs/api.md §10).",
  "setup-code": "Authorized by the one-time setup code in the body (docs/api.md §3).",
  "introspection-secret": "Authorized by `Authorization: Bearer <INDIEAUTH_INTROSPECTION_SECRET>`; without it, `401` with `WWW-Authenticate` (docs/api.md §14).",
  "indieauth-token": "Authorized by an IndieAuth access token with the `profile` scope (docs/api.md §14).",
};

const ERROR_STYLE_NOTES = {
  oauth:
    "A form body in (`application/x-www-form-urlencoded`); errors are RFC 6749 §5.2 `{\"error\", \"error_description\"}` (RFC 6750 §3 on userinfo), except refusals made before the request is read (the body limit, the rate limit, IndieAuth being unavailable), which are the protocol's. `Cache-Control: no-store`.",
  page: "An HTML page for a browser; its errors are HTML pages too.",
};

/**
 * Builds the document from the bundled module (loadRouteTable): the route list,
 * zod, the error schema.
 */
export function openApiDocument(module, { version }) {
  const { ROUTE_LIST, errorStatus, errorResponseSchema, oauthErrorResponseSchema, z } = module;
  const named = namedSchemas(module);
  const components = {};
  /**
   * The wire form of a schema is what it accepts (its input): defaults are
   * optional. Named schemas nested in it become $refs to components, so that a
   * public key or a message is described once.
   */
  const jsonSchema = (schema, { refs = true } = {}) => {
    const out = z.toJSONSchema(schema, {
      io: "input",
      unrepresentable: "any",
      target: "draft-2020-12",
      ...(refs ? { metadata: named } : {}),
    });
    delete out.$schema;
    const { $defs = {}, ...root } = JSON.parse(JSON.stringify(out).replaceAll('"#/$defs/', '"#/components/schemas/'));
    for (const [id, def] of Object.entries($defs)) components[id] ??= def;
    return root;
  };
  const parametersOf = (schema, where) => {
    if (!schema) return [];
    const object = jsonSchema(schema, { refs: false });
    const required = new Set(object.required ?? []);
    return Object.entries(object.properties ?? {}).map(([name, property]) => ({
      name,
      in: where,
      required: where === "path" || required.has(name),
      schema: property,
    }));
  };

  const paths = {};
  for (const route of ROUTE_LIST) {
    const responses = {};
    for (const [status, spec] of Object.entries(route.responses)) {
      const response = { description: spec.description };
      if (spec.contentType) {
        const schema = spec.schema ? jsonSchema(spec.schema) : spec.contentType.startsWith("text/") ? { type: "string" } : {};
        response.content = { [spec.contentType]: { schema } };
      }
      responses[status] = response;
    }
    // Errors: one response per status, naming the codes the route may answer with there.
    const codesByStatus = new Map();
    for (const code of route.errors) {
      const status = errorStatus(code);
      codesByStatus.set(status, [...(codesByStatus.get(status) ?? []), code]);
    }
    for (const [status, codes] of [...codesByStatus].sort(([a], [b]) => a - b)) {
      responses[status] = {
        description: `${STATUS_TEXT[status] ?? "Error"}: ${codes.map((c) => `\`${c}\``).join(", ")}.`,
        ...(status === 429 ? { headers: { "Retry-After": { description: "Seconds to wait.", schema: { type: "integer", minimum: 1 } } } } : {}),
        content: {
          "application/json": {
            schema: {
              allOf: [{ $ref: "#/components/schemas/ErrorResponse" }, { type: "object", properties: { error: { enum: codes } } }],
            },
          },
        },
      };
    }

    // OAuth errors (RFC 6749 §5.2 bodies), by the status each code travels with.
    const oauthStatus = (code) => (code === "invalid_client" || code === "invalid_token" ? 401 : code === "insufficient_scope" ? 403 : 400);
    const oauthByStatus = new Map();
    for (const code of route.oauthErrors ?? []) oauthByStatus.set(oauthStatus(code), [...(oauthByStatus.get(oauthStatus(code)) ?? []), code]);
    for (const [status, codes] of oauthByStatus) {
      const schema = { allOf: [{ $ref: "#/components/schemas/OauthErrorResponse" }, { type: "object", properties: { error: { enum: codes } } }] };
      const existing = responses[status]?.content?.["application/json"]?.schema;
      responses[status] = {
        description: `${STATUS_TEXT[status] ?? "Error"}: ${codes.map((c) => `\`${c}\``).join(", ")} (RFC 6749 §5.2)${existing ? `; ${responses[status].description}` : "."}`,
        ...(status === 401 ? { headers: { "WWW-Authenticate": { description: "The Bearer challenge (RFC 6750 §3).", schema: { type: "string" } } } } : {}),
        content: { "application/json": { schema: existing ? { oneOf: [existing, schema] } : schema } },
      };
    }
    if (route.errorStyle === "page") {
      for (const status of [400, 404]) {
        responses[status] ??= { description: `${STATUS_TEXT[status]}: an HTML page saying why.`, content: { "text/html": { schema: { type: "string" } } } };
      }
    }

    const notes = [
      AUTH_NOTES[route.auth],
      route.cors ? "CORS: `Access-Control-Allow-Origin: *`, no cookies." : undefined,
      ERROR_STYLE_NOTES[route.errorStyle],
    ]
      .filter(Boolean)
      .join(" ");
    const operation = {
      operationId: route.key.replace(/[^A-Za-z0-9]+/g, "_").replace(/^_|_$/g, ""),
      summary: route.summary,
      ...(notes ? { description: notes } : {}),
      tags: [route.asset ? "web app" : `§${route.section}`],
      ...(route.asset ? { "x-static-asset": true } : {}),
      "x-auth": route.auth,
      "x-docs-section": `docs/api.md §${route.section}`,
      parameters: [...parametersOf(route.params, "path"), ...parametersOf(route.query, "query")],
      ...(route.body
        ? {
            requestBody: {
              required: route.body.required,
              description: `At most ${route.body.maxBytes} bytes.`,
              content: { [route.body.contentType]: { schema: jsonSchema(route.body.schema) } },
            },
          }
        : {}),
      responses,
    };
    if (operation.parameters.length === 0) delete operation.parameters;
    if (route.auth === "bearer" || route.auth === "step-up") operation.security = [{ bearer: [] }];
    else if (route.auth === "introspection-secret") operation.security = [{ introspectionSecret: [] }];
    else if (route.auth === "indieauth-token") operation.security = [{ indieAuthToken: [] }];
    else if (route.auth === "refresh-cookie") operation.security = [{ refreshCookie: [] }];
    else if (route.auth === "http-signature") operation.security = [{ httpSignature: [] }];
    else operation.security = [];
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operation;
  }

  // Before the document is assembled: the error schemas' components, like the others.
  jsonSchema(errorResponseSchema);
  jsonSchema(oauthErrorResponseSchema);
  return {
    openapi: "3.1.0",
    info: {
      title: "Indienet identity server",
      version,
      summary: "One owner, one instance, their own keys.",
      description:
        "Shapes are generated from the server's zod schemas. What a schema cannot say (the claim, login and rotation rules, step-up, the live channel's frames, federation) is in docs/api.md, whose sections the `x-docs-section` of each operation names. Every error is `{\"error\", \"message\"}` (plus `issues` for validation errors); a 5xx is a bug.",
    },
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b))),
      securitySchemes: SECURITY_SCHEMES,
    },
  };
}

/**
 * A zod registry naming every schema the schema modules export: `signingJwkSchema`
 * is the component `SigningJwk`.
 */
function namedSchemas(module) {
  const { z } = module;
  const registry = z.registry();
  for (const [key, exports] of Object.entries(module)) {
    if (!key.endsWith("Schemas")) continue;
    for (const [name, value] of Object.entries(exports)) {
      if (!(value instanceof z.core.$ZodType) || !name.endsWith("Schema")) continue;
      registry.add(value, { id: name[0].toUpperCase() + name.slice(1, -"Schema".length) });
    }
  }
  return registry;
}

/** The document as the text build-web.mjs writes, and the files it came from. */
export async function buildOpenApi() {
  const { module, inputs } = await loadRouteTable();
  const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const document = openApiDocument(module, { version });
  // Compact: it is served, and `jq .` reads it as well.
  return { json: JSON.stringify(document) + "\n", inputs };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  process.stdout.write((await buildOpenApi()).json);
}
