import { applyD1Migrations, env } from "cloudflare:test";

// Every test file gets fresh storage; give its D1 the current schema.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
