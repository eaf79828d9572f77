import type { Context } from "hono";
import type * as z from "zod/mini";
import { ApiError } from "../errors";
import { ARCHIVE_LIMITS } from "../schemas/archive";

/** application/json, or any +json type. */
const JSON_TYPE = /^application\/([\w.+-]+\+)?json\b/i;

/**
 * Reads a JSON body and validates it against a schema. Malformed JSON, a wrong
 * content type and schema failures are all `400 invalid_request` (with zod's
 * issues for the latter, at most ARCHIVE_LIMITS.maxIssues); an empty body counts as
 * `{}` so that bodiless POSTs work, except for an archive (POST /auth/restore), whose
 * unparsable body is most likely a cut-off file, and the error says so.
 */
export async function readJson<S extends z.ZodMiniType>(c: Context, schema: S, archive?: true): Promise<z.infer<S>> {
  // An archive's raw body, not c.req.text(): hono would keep that copy of up to
  // 16 MiB cached on the request for as long as the request lives.
  const text = await (archive ? c.req.raw : c.req).text();
  let value: unknown = {};
  if (archive || text.trim() !== "") {
    if (!JSON_TYPE.test(c.req.header("content-type") ?? "")) {
      throw new ApiError("invalid_request", "The body must be JSON (Content-Type: application/json).");
    }
    try {
      value = JSON.parse(text);
    } catch {
      throw new ApiError(
        "invalid_request",
        archive
          ? "The body is not valid JSON: the archive in it is probably truncated or damaged. Export it again."
          : "The body is not valid JSON.",
      );
    }
  }
  return validated(schema, value, "request body");
}

export function readQuery<S extends z.ZodMiniType>(c: Context, schema: S): z.infer<S> {
  return validated(schema, c.req.query(), "query string");
}

/** `value` as `schema` has it, or `400 invalid_request` with zod's first issues. */
function validated<S extends z.ZodMiniType>(schema: S, value: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new ApiError("invalid_request", `The ${what} is invalid.`, { issues: parsed.error.issues.slice(0, ARCHIVE_LIMITS.maxIssues) });
  }
  return parsed.data;
}
