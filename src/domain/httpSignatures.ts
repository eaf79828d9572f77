/**
 * HTTP Signatures, draft-cavage-http-signatures-12, pure: parsing the `Signature`
 * header, building the signing string, and the request checks that need no key
 * (required headers, Date window, Digest value). Crypto and key fetching live in
 * services/federationAuth.ts; this module never does I/O and never reads a clock.
 *
 * This is the dialect the fediverse speaks (Mastodon, Pleroma, Misskey): RSA keys,
 * `rsa-sha256` or `hs2019` (whose real algorithm is the key's: RSASSA-PKCS1-v1_5
 * with SHA-256 for an RSA key), and a `Digest: SHA-256=<base64>` header (RFC 3230).
 */
import { binaryBytes, binaryString } from "../lib/bytes";

/** docs/api.md §11: what every inbox request must sign. */
export const REQUIRED_SIGNED_COMPONENTS = ["(request-target)", "host", "date", "digest"] as const;
/** docs/api.md §11: Date at most 1 h in the future and 12 h in the past. */
export const DATE_MAX_FUTURE_MS = 60 * 60 * 1000;
export const DATE_MAX_PAST_MS = 12 * 60 * 60 * 1000;
/** A Signature header is a few hundred bytes for RSA-2048; this bounds the parse. */
const MAX_SIGNATURE_HEADER_CHARS = 8192;

export const SUPPORTED_SIGNATURE_ALGORITHMS = ["rsa-sha256", "hs2019"] as const;

export interface CavageSignature {
  keyId: string;
  /** Lowercased; null when the header names none (draft-12 §2.1.3: then it is the key's). */
  algorithm: string | null;
  /** The signed components in order, lowercased (§2.1.6; default `date`). */
  headers: string[];
  signature: Uint8Array<ArrayBuffer>;
  created: number | null;
  expires: number | null;
}

export type SignatureRejection =
  | "missing"
  | "malformed"
  | "unsupported_algorithm"
  | "missing_component"
  | "missing_header"
  | "bad_date"
  | "date_out_of_window"
  | "expired"
  | "digest_missing"
  | "digest_mismatch";

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: SignatureRejection };

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const no = (reason: SignatureRejection): { ok: false; reason: SignatureRejection } => ({ ok: false, reason });

export function decodeBase64(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return null;
  try {
    return binaryBytes(atob(text));
  } catch {
    return null;
  }
}

export function encodeBase64(bytes: Uint8Array): string {
  return btoa(binaryString(bytes));
}

/**
 * Parses a `Signature` header value (§4.1), or an `Authorization: Signature …`
 * value (§3.1, the scheme word is stripped). Parameters are `name="quoted"` or, for
 * `created`/`expires`, bare integers; a repeated parameter makes the header invalid.
 */
export function parseSignatureHeader(raw: string | null | undefined): Checked<CavageSignature> {
  if (raw === null || raw === undefined || raw.trim() === "") return no("missing");
  if (raw.length > MAX_SIGNATURE_HEADER_CHARS) return no("malformed");
  const value = raw.replace(/^\s*Signature\s+/i, "");
  const params = new Map<string, string>();
  const re = /\s*([A-Za-z]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|(\d+))\s*(?:,|$)/y;
  let at = 0;
  while (at < value.length) {
    re.lastIndex = at;
    const m = re.exec(value);
    if (!m) return no("malformed");
    const name = m[1]!.toLowerCase();
    if (params.has(name)) return no("malformed");
    params.set(name, m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : m[3]!);
    at = re.lastIndex;
  }
  const keyId = params.get("keyid");
  const signatureText = params.get("signature");
  if (!keyId || !signatureText) return no("malformed");
  const signature = decodeBase64(signatureText);
  if (!signature || signature.length === 0) return no("malformed");

  const algorithm = params.get("algorithm")?.toLowerCase() ?? null;
  if (algorithm !== null && !(SUPPORTED_SIGNATURE_ALGORITHMS as readonly string[]).includes(algorithm)) {
    return no("unsupported_algorithm");
  }
  const headers = (params.get("headers") ?? "date").trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (headers.length === 0) return no("malformed");
  const integer = (name: string): number | null | undefined => {
    const v = params.get(name);
    if (v === undefined) return null;
    return /^\d{1,12}$/.test(v) ? Number(v) : undefined;
  };
  const created = integer("created");
  const expires = integer("expires");
  if (created === undefined || expires === undefined) return no("malformed");
  return ok({ keyId, algorithm, headers, signature, created, expires });
}

export interface SignedRequestFacts {
  /** Any case; lowercased in `(request-target)`. */
  method: string;
  /** Path and query exactly as requested, e.g. `/inbox?x=1`. */
  target: string;
  /** A header's value, multiple values joined with ", " (what Headers.get returns), or null. */
  header(name: string): string | null;
}

/**
 * The signing string (§2.3): one line per listed component, `name: value`, joined
 * by "\n" with no trailing newline. `(request-target)` is `<method> <path>`;
 * `(created)` / `(expires)` are the signature's own parameters. A listed header the
 * request does not carry makes the signature unverifiable (§2.3 step 2).
 */
export function buildSigningString(components: readonly string[], request: SignedRequestFacts, params: { created?: number | null; expires?: number | null } = {}): Checked<string> {
  const lines: string[] = [];
  for (const name of components) {
    if (name === "(request-target)") {
      lines.push(`(request-target): ${request.method.toLowerCase()} ${request.target}`);
    } else if (name === "(created)" || name === "(expires)") {
      const v = name === "(created)" ? params.created : params.expires;
      if (v === null || v === undefined) return no("missing_header");
      lines.push(`${name}: ${v}`);
    } else {
      const v = request.header(name);
      if (v === null) return no("missing_header");
      // §2.3 step 3: leading and trailing whitespace is trimmed from values.
      lines.push(`${name}: ${v.trim()}`);
    }
  }
  return ok(lines.join("\n"));
}

/** Everything about a parsed signature that can be checked without its key. */
export function checkSignedRequest(sig: CavageSignature, request: SignedRequestFacts, nowMs: number): Checked<string> {
  for (const required of REQUIRED_SIGNED_COMPONENTS) {
    if (!sig.headers.includes(required)) return no("missing_component");
  }
  const date = checkDateWindow(request.header("date"), nowMs);
  if (!date.ok) return date;
  if (sig.expires !== null && sig.expires * 1000 < nowMs) return no("expired");
  if (sig.created !== null && sig.created * 1000 > nowMs + DATE_MAX_FUTURE_MS) return no("date_out_of_window");
  return buildSigningString(sig.headers, request, sig);
}

/** docs/api.md §11: an HTTP-date no more than 1 h ahead of `nowMs` and no more than 12 h behind it. */
export function checkDateWindow(date: string | null, nowMs: number): Checked<number> {
  if (!date) return no("missing_header");
  const ms = Date.parse(date);
  if (Number.isNaN(ms)) return no("bad_date");
  if (ms > nowMs + DATE_MAX_FUTURE_MS || ms < nowMs - DATE_MAX_PAST_MS) return no("date_out_of_window");
  return ok(ms);
}

/**
 * The SHA-256 value of a `Digest` header (RFC 3230: `SHA-256=<base64>`, possibly
 * among other algorithms), decoded; null when the header carries none.
 */
export function sha256FromDigestHeader(value: string | null): Uint8Array<ArrayBuffer> | null {
  if (!value) return null;
  for (const part of value.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim().toLowerCase() !== "sha-256") continue;
    const bytes = decodeBase64(part.slice(eq + 1).trim());
    return bytes && bytes.length === 32 ? bytes : null;
  }
  return null;
}

/** Compares the Digest header with the body's SHA-256 (computed by the caller). */
export function checkDigest(value: string | null, bodySha256: Uint8Array): Checked<true> {
  const claimed = sha256FromDigestHeader(value);
  if (!claimed) return no("digest_missing");
  if (claimed.length !== bodySha256.length) return no("digest_mismatch");
  let diff = 0;
  for (let i = 0; i < claimed.length; i++) diff |= claimed[i]! ^ bodySha256[i]!;
  return diff === 0 ? ok(true) : no("digest_mismatch");
}

/** The `Signature` header value for an outgoing request (§4.1), rsa-sha256. */
export function formatSignatureHeader(input: { keyId: string; headers: readonly string[]; signature: Uint8Array }): string {
  const quote = (s: string) => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
  return `keyId="${quote(input.keyId)}",algorithm="rsa-sha256",headers="${input.headers.join(" ")}",signature="${encodeBase64(input.signature)}"`;
}
