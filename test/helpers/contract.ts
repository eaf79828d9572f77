/**
 * Checks the server's answers against the contract (src/schemas/routes.ts): the
 * workers test helpers wrap their fetchers with it, so every test that goes through
 * them also checks that each response has its route's shape.
 *
 * - a success must be a status the route declares, with its media type and a body
 *   its response schema accepts (a 204 or 101 has no body);
 * - an error must be `{"error", "message"[, "issues"]}` with a protocol code, the
 *   status that code travels with (ERROR_STATUS), and a code the route declares.
 *   `internal_error` is allowed anywhere: a 500 is a bug the test itself reports.
 *
 * Paths outside the table (web app files, unknown paths) are checked only for the
 * error shape. A route whose `errorStyle` is `oauth` answers RFC 6749 §5.2 errors
 * (or the protocol's, for refusals made before its handler); `page`, an HTML page.
 */
import { errorResponseSchema } from "../../src/schemas/errors";
import { oauthErrorResponseSchema } from "../../src/schemas/oauth";
import { errorStatus, findRoute, type ResponseSpec, type RouteSpec } from "../../src/schemas/routes";
import type { Fetcher } from "./owner";

export class ContractViolation extends Error {
  override readonly name = "ContractViolation";
}

const isJsonType = (type: string) => /^application\/([\w.+-]+\+)?json$/.test(type);
const mediaType = (header: string | null) => (header ?? "").split(";")[0]!.trim().toLowerCase();

/**
 * The status an RFC 6749 §5.2 error travels with: 401 for a client that failed to
 * authenticate and, on the userinfo endpoint, a bad token (RFC 6750 §3.1), 403 for
 * too little scope; 400 for the rest.
 */
export function oauthErrorStatus(code: string): number {
  if (code === "invalid_client" || code === "invalid_token") return 401;
  return code === "insufficient_scope" ? 403 : 400;
}

/** Throws ContractViolation when `response` is not what the route table promises for `request`. */
export async function checkResponseContract(request: Request, response: Response): Promise<void> {
  const method = request.method.toUpperCase();
  if (method === "HEAD" || method === "OPTIONS") return;
  const url = new URL(request.url);
  const where = `${method} ${url.pathname} answered ${response.status}`;
  const fail = (why: string): never => {
    throw new ContractViolation(`contract: ${where}: ${why}`);
  };
  const route = findRoute(method, url.pathname);
  const status = response.status;

  if (status === 101) {
    if (route && !(101 in route.responses)) fail(`the route (${route.key}) does not declare 101`);
    return;
  }

  if (status >= 400) return await checkErrorResponse(route, response, fail);

  if (!route) return;
  const spec = (route.responses as Record<number, ResponseSpec | undefined>)[status];
  if (!spec) return fail(`the route (${route.key}) declares only ${Object.keys(route.responses).join(", ")}`);
  const text = await response.clone().text();
  if (!spec.contentType) {
    if (text !== "") fail(`a ${status} has no body, got: ${text.slice(0, 200)}`);
    return;
  }
  if (text === "" && spec.bodyOptional) return;
  const type = mediaType(response.headers.get("content-type"));
  const expected = mediaType(spec.contentType);
  if (isJsonType(expected) ? !isJsonType(type) : type !== expected) fail(`content type "${type}", expected "${expected}"`);
  if (!spec.schema) return;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    fail(`the body is not JSON: ${text.slice(0, 200)}`);
  }
  const parsed = spec.schema.safeParse(body);
  if (!parsed.success) fail(`the body does not match the response schema: ${JSON.stringify(parsed.error.issues)}`);
}

/**
 * Checks an error answer (status ≥ 400) of `route` (null: a path outside the table)
 * by the route's error style; calls `fail` with the reason when it is not one.
 */
export async function checkErrorResponse(
  route: (RouteSpec & { key: string }) | null,
  response: Response,
  fail: (why: string) => never,
): Promise<void> {
  const status = response.status;
  const type = mediaType(response.headers.get("content-type"));
  // A web app path that is not a file: the assets binding's own 404.
  if (!route && !isJsonType(type)) return;
  const style = route?.errorStyle ?? "protocol";
  if (style === "page" && status < 500) {
    if (type !== "text/html") fail(`an error of this route is an HTML page, not "${type}"`);
    return;
  }
  if (!isJsonType(type)) fail(`an error must be JSON, not "${type}"`);
  const text = await response.clone().text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    fail(`the error body is not JSON: ${text.slice(0, 200)}`);
  }
  if (style === "oauth") {
    const oauth = oauthErrorResponseSchema.safeParse(body);
    if (oauth.success) {
      const expected = oauthErrorStatus(oauth.data.error);
      if (expected !== status) fail(`OAuth "${oauth.data.error}" travels with ${expected}`);
      if (route && !(route.oauthErrors ?? []).includes(oauth.data.error)) {
        fail(`the route (${route.key}) does not declare OAuth "${oauth.data.error}" (it declares ${route.oauthErrors?.join(", ") || "none"})`);
      }
      return;
    }
  }
  const parsed = errorResponseSchema.safeParse(body);
  if (!parsed.success) return fail(`the error body is not an error response: ${JSON.stringify(parsed.error.issues)}`);
  const code = parsed.data.error;
  if (errorStatus(code) !== status) fail(`"${code}" travels with ${errorStatus(code)}`);
  if (route && code !== "internal_error" && !route.errors.includes(code)) {
    fail(`the route (${route.key}) does not declare "${code}" (it declares ${route.errors.join(", ") || "none"})`);
  }
}

/** `fetcher`, with every answer checked by checkResponseContract. */
export function contractChecked(fetcher: Fetcher): Fetcher {
  return async (request) => {
    // The request's URL and method are all the check needs; keep them before the body is sent.
    const probe = new Request(request.url, { method: request.method });
    const response = await fetcher(request);
    await checkResponseContract(probe, response);
    return response;
  };
}
