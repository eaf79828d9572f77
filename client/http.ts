/**
 * JSON over fetch, with every response parsed by the server's own zod schemas
 * (src/schemas): what the server may send is defined once, and a response that does
 * not match is a `bad_response`, never silently half-used.
 */
import * as z from "zod/mini";
import { errorResponseSchema } from "../src/schemas/errors";
import { IndieError } from "./errors";

export type FetchLike = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

export interface JsonRequest {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Cookies: "same-origin" for /auth (the refresh cookie), "omit" for public routes. */
  credentials?: RequestCredentials;
  cache?: RequestCache;
  /** Aborts the request (and the reading of its body): a timeout, say. */
  signal?: AbortSignal;
}

export async function send(fetchFn: FetchLike, url: string, request: JsonRequest = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: "application/json", ...request.headers };
  if (request.body !== undefined) headers["content-type"] = "application/json";
  try {
    return await fetchFn(url, {
      method: request.method ?? "GET",
      headers,
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      credentials: request.credentials ?? "same-origin",
      cache: request.cache,
      signal: request.signal,
    });
  } catch (err) {
    throw new IndieError("network_error", "The server could not be reached. Check your connection and try again.", {
      cause: err,
    });
  }
}

/** Turns a non-2xx response into an IndieError with the protocol's code and message. */
export async function errorFrom(res: Response): Promise<IndieError> {
  const retryAfter = Number(res.headers.get("retry-after"));
  const retryAfterS = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined;
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const parsed = errorResponseSchema.safeParse(body);
  if (!parsed.success) {
    return new IndieError("bad_response", `The server answered HTTP ${res.status} without an error body.`, {
      status: res.status,
      retryAfterS,
    });
  }
  return new IndieError(parsed.data.error, parsed.data.message, {
    status: res.status,
    retryAfterS,
    issues: parsed.data.issues,
  });
}

/** Reads a 2xx response with `schema`; throws IndieError for anything else. */
export async function readJson<S extends z.core.$ZodType>(res: Response, schema: S): Promise<z.infer<S>> {
  if (!res.ok) throw await errorFrom(res);
  let body: unknown;
  try {
    body = await res.json();
  } catch (err) {
    throw new IndieError("bad_response", "The server's answer was not JSON.", { status: res.status, cause: err });
  }
  const parsed = z.safeParse(schema, body);
  if (!parsed.success) {
    throw new IndieError("bad_response", "The server's answer did not have the expected shape.", {
      status: res.status,
      issues: parsed.error.issues,
    });
  }
  return parsed.data;
}

/** For routes that answer 204. */
export async function expectNoContent(res: Response): Promise<void> {
  if (!res.ok) throw await errorFrom(res);
  await res.body?.cancel();
}

export async function requestJson<S extends z.core.$ZodType>(
  fetchFn: FetchLike,
  url: string,
  schema: S,
  request: JsonRequest = {},
): Promise<z.infer<S>> {
  return readJson(await send(fetchFn, url, request), schema);
}
