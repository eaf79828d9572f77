import type { Context } from "hono";
import type * as z from "zod/mini";
import { ApiError } from "../errors";
import { ARCHIVE_LIMITS, restoreRequestSchema } from "../schemas/archive";

/**
 * Reads a JSON body and validates it against a schema. Malformed JSON, a wrong
 * content type and schema failures are all `400 invalid_request` (with zod's
 * issues for the latter); an empty body counts as `{}` so that bodiless POSTs work.
 */
export async function readJson<S extends z.ZodMiniType>(c: Context, schema: S): Promise<z.infer<S>> {
  const text = await c.req.text();
  let value: unknown = {};
  if (text.trim() !== "") {
    const type = c.req.header("content-type") ?? "";
    if (!/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
      throw new ApiError("invalid_request", "The body must be JSON (Content-Type: application/json).");
    }
    try {
      value = JSON.parse(text);
    } catch {
      throw new ApiError("invalid_request", "The body is not valid JSON.");
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new ApiError("invalid_request", "The request body is invalid.", { issues: parsed.error.issues });
  }
  return parsed.data;
}

export function readQuery<S extends z.ZodMiniType>(c: Context, schema: S): z.infer<S> {
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success) {
    throw new ApiError("invalid_request", "The query string is invalid.", { issues: parsed.error.issues });
  }
  return parsed.data;
}

/** POST /auth/restore's body. Like readJson, but it says what an unparsable body most likely is: a cut-off archive. */
export async function readRestoreRequest(c: Context): Promise<z.infer<typeof restoreRequestSchema>> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
    throw new ApiError("invalid_request", "The body must be JSON (Content-Type: application/json).");
  }
  let value: unknown;
  try {
    // The raw body, not c.req.text(): hono would keep that copy of up to 16 MiB
    // cached on the request for as long as the request lives.
    value = JSON.parse(await c.req.raw.text());
  } catch {
    throw new ApiError(
      "invalid_request",
      "The body is not valid JSON: the archive in it is probably truncated or damaged. Export it again.",
    );
  }
  const parsed = restoreRequestSchema.safeParse(value);
  if (!parsed.success) {
    throw new ApiError("invalid_request", "The request body is invalid.", {
      issues: parsed.error.issues.slice(0, ARCHIVE_LIMITS.maxIssues),
    });
  }
  return parsed.data;
}
