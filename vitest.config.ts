// Unit and integration tests, run inside workerd against real local bindings
// (D1, KV, the Durable Object). End-to-end tests have their own config in test/e2e.
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { TEST_ORIGIN, TEST_SETUP_CODE } from "./test/helpers/constants.ts";
// @ts-expect-error: plain ESM helper shared with the dev and deploy scripts
import { generateDataKey, generateFederationKey, generateInstanceSigningKey, generateIntrospectionSecret } from "./scripts/lib/secrets.mjs";


const migrations = await readD1Migrations("./migrations");

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        // The test pool runs vitest inside workerd and needs Node's built-ins; the
        // deployed Worker does not (wrangler.toml has no nodejs_compat).
        compatibilityFlags: ["nodejs_compat"],
        // Empty databases: test/workers/schema.test.ts compares schema.sql with the
        // migrations; test/workers/migrations.d1.test.ts upgrades an old schema.
        d1Databases: { SCHEMA_CHECK_DB: "schema-check", MIGRATION_CHECK_DB: "migration-check" },
        bindings: {
          ORIGIN: TEST_ORIGIN,
          SETUP_CODE: TEST_SETUP_CODE,
          INSTANCE_SIGNING_KEY: await generateInstanceSigningKey(),
          DATA_KEY: generateDataKey(),
          FEDERATION_KEY: await generateFederationKey(),
          INDIEAUTH_INTROSPECTION_SECRET: generateIntrospectionSecret(),
          // Tests send many requests from one address; the rate-limit tests lower it.
          RATE_LIMIT_PER_MIN: "100000",
          TEST_MIGRATIONS: migrations,
        },
      },
    }),
  ],
  // As wrangler.toml's [alias]: @oslojs/webauthn's SHA-256 from @noble/hashes (src/lib/osloSha2.ts).
  resolve: { alias: { "@oslojs/crypto/sha2": fileURLToPath(new URL("./src/lib/osloSha2.ts", import.meta.url)) } },
  test: {
    include: ["test/unit/**/*.test.ts", "test/workers/**/*.test.ts"],
    setupFiles: ["./test/workers/apply-migrations.ts"],
  },
});
