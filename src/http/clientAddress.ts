import type { Context } from "hono";
import { rateLimitAddress } from "../domain/rateLimit";
import type { AppEnv } from "./types";

/**
 * The client's address as Cloudflare reports it (local tools may not set it), as
 * the per-address counters key it: an IPv6 address by its /64 (domain/rateLimit.ts).
 */
export function clientAddress(c: Context<AppEnv>): string {
  return rateLimitAddress(c.req.header("cf-connecting-ip") ?? "unknown");
}
