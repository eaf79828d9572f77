/**
 * The Worker's handle on the instance's single Durable Object. Next to the object's
 * class, so that whoever calls it (http/, services/, routes/) depends on durable/,
 * never the other way round.
 */
import type { Env } from "../env";

export function instanceStub(env: Env) {
  return env.INSTANCE.get(env.INSTANCE.idFromName("instance"));
}

export type InstanceStub = ReturnType<typeof instanceStub>;
