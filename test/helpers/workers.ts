/** Glue between the OwnerClient and the Worker under test inside workerd. */
import { createExecutionContext, env, runInDurableObject, SELF, waitOnExecutionContext } from "cloudflare:test";
import { decodeJwt } from "jose";
import { signAccessToken, type AuthMethod } from "../../src/domain/accessToken";
import type { InstanceDO } from "../../src/durable/instance";
import worker from "../../src/index";
import { loadInstanceKey } from "../../src/lib/instanceKey";
import { serverNowMs } from "./clock";
import { TEST_ORIGIN, TEST_SETUP_CODE } from "./constants";
import { contractChecked } from "./contract";
import { FrameQueue } from "./messages";
import { OwnerClient, type Fetcher } from "./owner";

export { TEST_ORIGIN, TEST_SETUP_CODE };

/** The Worker under test, with every answer checked against the route table (helpers/contract.ts). */
export const selfFetch: Fetcher = contractChecked((request) => SELF.fetch(request));

/**
 * Calls the Worker with some variables overridden, e.g. a shorter grace period.
 * The Durable Object is shared, so state carries over between both fetchers.
 */
export function fetchWithVars(vars: Record<string, unknown>): Fetcher {
  return contractChecked(async (request) => {
    const ctx = createExecutionContext();
    const response = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, { ...env, ...vars }, ctx);
    await waitOnExecutionContext(ctx);
    return response;
  });
}

/** An owner who has claimed this test file's instance. */
export async function claimedOwner(): Promise<OwnerClient> {
  const owner = await OwnerClient.create(selfFetch, TEST_ORIGIN);
  const res = await owner.claim(TEST_SETUP_CODE);
  if (res.status !== 201) throw new Error(`claim failed: ${res.status} ${await res.text()}`);
  return owner;
}

/** Runs `fn` inside the instance's Durable Object, for checks the API cannot make. */
export function inInstance<R>(fn: (instance: InstanceDO, state: DurableObjectState) => R | Promise<R>): Promise<R> {
  const stub = env.INSTANCE.get(env.INSTANCE.idFromName("instance"));
  // The pool types the instance against the test Env; ours is the Worker's Env.
  return runInDurableObject(stub, fn as unknown as Parameters<typeof runInDurableObject<DurableObject, R>>[1]);
}

/** Rows of a query over the object's SQLite (e.g. "SELECT id FROM messages ORDER BY id"), for checks the API cannot make. */
export function objectRows<Row extends Record<string, SqlStorageValue>>(query: string, ...bindings: unknown[]): Promise<Row[]> {
  return inInstance((_i, state) => state.storage.sql.exec<Row>(query, ...bindings).toArray());
}

/**
 * Makes the client's access token look as if its login happened `ageS` seconds ago:
 * the same session and amr, re-signed with the instance key and an older auth_time.
 * Step-up tests use it instead of sleeping past a tiny STEP_UP_MAX_AGE_S, which made
 * the "fresh again after reauth" half depend on how fast a loaded machine answers.
 */
export async function ageLogin(client: OwnerClient, ageS: number): Promise<void> {
  const claims = decodeJwt(client.accessToken!);
  const key = await loadInstanceKey(env.INSTANCE_SIGNING_KEY);
  const minted = await signAccessToken(key, {
    origin: TEST_ORIGIN,
    sid: claims.sid as string,
    authTimeS: (claims.auth_time as number) - ageS,
    amr: claims.amr as AuthMethod[],
    ttlS: 900,
    nowMs: serverNowMs(),
  });
  client.accessToken = minted.accessToken;
}

/**
 * Opens the live channel (/api/ws) with `token`, the way the browser does (subprotocols
 * `indie.v1, bearer.<token>`), and feeds its frames and close into a FrameQueue.
 * Throws unless the upgrade succeeds.
 */
export async function connectLive(
  token: string | undefined,
  extraHeaders: Record<string, string> = {},
): Promise<{ ws: WebSocket; frames: FrameQueue; response: Response }> {
  const response = await SELF.fetch(`${TEST_ORIGIN}/api/ws`, {
    headers: { Upgrade: "websocket", "Sec-WebSocket-Protocol": `indie.v1, bearer.${token}`, ...extraHeaders },
  });
  if (response.status !== 101 || !response.webSocket) throw new Error(`upgrade: ${response.status} ${await response.text()}`);
  const ws = response.webSocket;
  const frames = new FrameQueue();
  ws.addEventListener("message", (e) => frames.push(typeof e.data === "string" ? e.data : "<binary>"));
  ws.addEventListener("close", (e) => frames.closed(e.code, e.reason));
  ws.accept();
  return { ws, frames, response };
}
