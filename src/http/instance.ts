import type { Context } from "hono";
import type { Env } from "../env";
import type { AppEnv } from "./types";

/** The instance's single Durable Object. */
export function instanceStub(env: Env) {
  return env.INSTANCE.get(env.INSTANCE.idFromName("instance"));
}

/** The client's address as Cloudflare reports it; local tools may not set it. */
export function clientAddress(c: Context<AppEnv>): string {
  return c.req.header("cf-connecting-ip") ?? "unknown";
}
