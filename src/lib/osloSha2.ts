/**
 * What the Worker's bundle uses for `@oslojs/crypto/sha2` (wrangler.toml `[alias]`,
 * and vitest.config.ts, so the tests run the same code): SHA-256 from
 * `@noble/hashes`, which the Worker bundles already (its hash core serves TOTP's
 * HMAC-SHA-1).
 *
 * `@oslojs/webauthn` needs a synchronous SHA-256 (the RP ID hash, the assertion's
 * signed message). Through `@oslojs/crypto/sha2` it brought a second SHA-256 and,
 * since that entry point re-exports every SHA-2 and esbuild must keep a module-level
 * `new BigUint64Array([...])`, SHA-512's 80 round constants as well: 1.1 KiB
 * gzipped (docs/benchmarks.md, "Worker size"). Same function, same signature
 * (bytes in, 32 bytes out); nothing else of `@oslojs/crypto/sha2` is imported.
 */
export { sha256 } from "@noble/hashes/sha2.js";
