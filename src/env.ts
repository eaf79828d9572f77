import type { InstanceDO } from "./durable/instance";

/** Bindings declared in wrangler.toml, plus the secrets set with `wrangler secret`. */
export interface Env {
  DB: D1Database;
  CACHE: KVNamespace;
  INSTANCE: DurableObjectNamespace<InstanceDO>;
  /** The owner web app's static files (wrangler.toml [assets]). */
  ASSETS?: Fetcher;

  // [vars]: strings, parsed by readSettings().
  ORIGIN?: string;
  OWNER_HANDLE?: string;
  ACCESS_TOKEN_TTL_S?: string;
  REFRESH_REUSE_GRACE_S?: string;
  REFRESH_IDLE_TTL_S?: string;
  SESSION_MAX_TTL_S?: string;
  STEP_UP_MAX_AGE_S?: string;
  RECOVERY_DELAY_S?: string;
  INDIEAUTH_ACCESS_TOKEN_TTL_S?: string;
  ALLOW_INSECURE_FEDERATION?: string;
  RATE_LIMIT_PER_MIN?: string;
  MESSAGE_QUOTA?: string;
  MESSAGE_QUOTA_BYTES?: string;

  // Secrets.
  /** One-time code that proves the right to claim a fresh instance (>= 128 bits). */
  SETUP_CODE?: string;
  /** The instance's Ed25519 private JWK (JSON) that signs access tokens. */
  INSTANCE_SIGNING_KEY?: string;
  /** 32 random bytes, base64url: keys data encrypted or keyed-hashed at rest. */
  DATA_KEY?: string;
  /** RSA-2048 private key, PKCS#8 PEM: signs federation requests (docs/api.md §11). */
  FEDERATION_KEY?: string;
  /** 32 random bytes, base64url: the Bearer token of POST /indieauth/introspect (docs/api.md §14). */
  INDIEAUTH_INTROSPECTION_SECRET?: string;
}
