// What zod's classic schemas import for JSON Schema output, minus the generator.
// The web app never turns a schema into JSON Schema (/openapi.json is built in Node
// by scripts/build-web.mjs, with the real zod), but classic schemas reference the
// generator from every constructor, so esbuild could not drop it: ~5 KiB gzipped of
// the app's 100 KiB budget. The build's zod plugin points classic/schemas.js here.
export { aggregateChecks } from "../node_modules/zod/v4/core/json-schema-processors.js";

function unavailable(): never {
  throw new Error("JSON Schema output is not built into the web app");
}

export const createToJSONSchemaMethod = () => unavailable;
export const createStandardJSONSchemaMethod = () => unavailable;
