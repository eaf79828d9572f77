import type { Context } from "hono";
import type { AppEnv } from "./types";

/** The client's address as Cloudflare reports it; local tools may not set it. */
export function clientAddress(c: Context<AppEnv>): string {
  return c.req.header("cf-connecting-ip") ?? "unknown";
}
