/// <reference types="vite/client" />
import type { D1Migration } from "cloudflare:test";
import type { Env as WorkerEnv } from "../src/env";

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {
      TEST_MIGRATIONS: D1Migration[];
      SCHEMA_CHECK_DB: D1Database;
      MIGRATION_CHECK_DB: D1Database;
    }
  }
}
