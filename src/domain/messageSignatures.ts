/**
 * RFC 9421 HTTP Message Signatures, the subset an inbox needs, pure: parsing
 * `Signature-Input` and `Signature` (RFC 8941 dictionaries), building the
 * signature base (§2.5), and `Content-Digest` (RFC 9530). docs/api.md §11 accepts
 * these beside draft-cavage (domain/httpSignatures.ts); the key fetch and crypto
 * are shared (services/federationAuth.ts).
 *
 * Supported: components without parameters — the derived `@method`,
 * `@target-uri`, `@authority`, `@scheme`, `@request-target`, `@path`, `@query`,
 * and header fields; algorithm `rsa-v1_5-sha256` (or none: the key's, which for
 * an RSA key is the same). What must be covered: `@method`, the target
 * (`@target-uri`, or `@authority` with `@path` or `@request-target`) and
 * `content-digest`; `created` must be present and in the Date window.
 */
import { DATE_MAX_FUTURE_MS, DATE_MAX_PAST_MS, decodeBase64, type Checked, type SignatureRejection } from "./httpSignatures";

export const RFC9421_ALGORITHM = "rsa-v1_5-sha256";
const MAX_HEADER_CHARS = 8192;

export interface MessageSignature {
  label: string;
  components: string[];
  keyId: string;
  algorithm: string | null;
  created: number;
  expires: number | null;
  /** The serialized inner list and parameters, exactly as received: the `@signature-params` value. */
  signatureParams: string;
  signature: Uint8Array<ArrayBuffer>;
}

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const no = (reason: SignatureRejection): { ok: false; reason: SignatureRejection } => ({ ok: false, reason });

type BareItem = string | number | boolean | Uint8Array<ArrayBuffer> | { token: string };

/** A tiny RFC 8941 reader, enough for Signature-Input and Signature dictionaries. */
class Reader {
  at = 0;
  constructor(readonly text: string) {}
  peek() {
    return this.text[this.at];
  }
  skip(re = /[ \t]/) {
    while (this.at < this.text.length && re.test(this.text[this.at]!)) this.at++;
  }
  key(): string | null {
    const m = /^[a-z*][a-z0-9_.*-]*/.exec(this.text.slice(this.at));
    if (!m) return null;
    this.at += m[0].length;
    return m[0];
  }
  bareItem(): BareItem | null {
    const c = this.peek();
    if (c === '"') {
      let out = "";
      for (this.at++; this.at < this.text.length; this.at++) {
        const ch = this.text[this.at]!;
        if (ch === "\\") {
          const next = this.text[++this.at];
          if (next !== '"' && next !== "\\") return null;
          out += next;
        } else if (ch === '"') {
          this.at++;
          return out;
        } else if (ch < " " || ch > "~") return null;
        else out += ch;
      }
      return null;
    }
    if (c === ":") {
      const end = this.text.indexOf(":", this.at + 1);
      if (end < 0) return null;
      const bytes = decodeBase64(this.text.slice(this.at + 1, end));
      this.at = end + 1;
      return bytes;
    }
    if (c === "?") {
      const v = this.text[this.at + 1];
      this.at += 2;
      return v === "1" ? true : v === "0" ? false : null;
    }
    const num = /^-?\d{1,15}(\.\d{1,3})?/.exec(this.text.slice(this.at));
    if (num) {
      this.at += num[0].length;
      return Number(num[0]);
    }
    const token = /^[A-Za-z*][A-Za-z0-9!#$%&'*+.^_`|~:/-]*/.exec(this.text.slice(this.at));
    if (token) {
      this.at += token[0].length;
      return { token: token[0] };
    }
    return null;
  }
  params(): Map<string, BareItem> | null {
    const params = new Map<string, BareItem>();
    while (this.peek() === ";") {
      this.at++;
      this.skip();
      const k = this.key();
      if (!k) return null;
      let v: BareItem | null = true;
      if (this.peek() === "=") {
        this.at++;
        v = this.bareItem();
        if (v === null) return null;
      }
      params.set(k, v);
    }
    return params;
  }
}

interface Member {
  /** An inner list of strings (components) with their parameters, or a bare item. */
  list: Array<{ item: BareItem; params: Map<string, BareItem> }> | null;
  item: BareItem | null;
  params: Map<string, BareItem>;
  raw: string;
}

function parseDictionary(text: string): Map<string, Member> | null {
  if (text.length > MAX_HEADER_CHARS) return null;
  const r = new Reader(text);
  const out = new Map<string, Member>();
  r.skip();
  while (r.at < text.length) {
    const key = r.key();
    if (!key || r.peek() !== "=") return null;
    r.at++;
    const start = r.at;
    let list: Member["list"] = null;
    let item: BareItem | null = null;
    if (r.peek() === "(") {
      list = [];
      r.at++;
      for (;;) {
        r.skip(/ /);
        if (r.peek() === ")") {
          r.at++;
          break;
        }
        const it = r.bareItem();
        if (it === null) return null;
        const p = r.params();
        if (!p) return null;
        list.push({ item: it, params: p });
        if (r.peek() !== " " && r.peek() !== ")") return null;
      }
    } else {
      item = r.bareItem();
      if (item === null) return null;
    }
    const params = r.params();
    if (!params) return null;
    out.set(key, { list, item, params, raw: text.slice(start, r.at) });
    r.skip();
    if (r.at >= text.length) break;
    if (r.peek() !== ",") return null;
    r.at++;
    r.skip();
    if (r.at >= text.length) return null;
  }
  return out;
}

const DERIVED = new Set(["@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query"]);

/**
 * Picks the first signature whose input this server can check (RFC 9421 §7.3.2
 * lets a verifier choose) and returns it with its bytes.
 */
export function parseMessageSignature(signatureInput: string | null, signature: string | null): Checked<MessageSignature> {
  if (!signatureInput || !signature) return no("missing");
  const inputs = parseDictionary(signatureInput);
  const signatures = parseDictionary(signature);
  if (!inputs || !signatures) return no("malformed");
  let firstReason: SignatureRejection = "malformed";
  for (const [label, member] of inputs) {
    const sig = signatures.get(label)?.item;
    const checked = readInput(label, member, sig instanceof Uint8Array ? sig : null);
    if (checked.ok) return checked;
    if (firstReason === "malformed") firstReason = checked.reason;
  }
  return no(firstReason);
}

function readInput(label: string, member: Member, signature: Uint8Array<ArrayBuffer> | null): Checked<MessageSignature> {
  if (!member.list || !signature || signature.length === 0) return no("malformed");
  const components: string[] = [];
  for (const { item, params } of member.list) {
    if (typeof item !== "string" || params.size > 0) return no("malformed");
    if (item.startsWith("@") && !DERIVED.has(item)) return no("malformed");
    if (item !== item.toLowerCase() || components.includes(item)) return no("malformed");
    components.push(item);
  }
  const keyId = member.params.get("keyid");
  const alg = member.params.get("alg");
  const created = member.params.get("created");
  const expires = member.params.get("expires");
  if (typeof keyId !== "string" || keyId === "") return no("malformed");
  if (alg !== undefined && alg !== RFC9421_ALGORITHM) return no("unsupported_algorithm");
  if (typeof created !== "number" || !Number.isInteger(created)) return no("missing_component");
  if (expires !== undefined && (typeof expires !== "number" || !Number.isInteger(expires))) return no("malformed");
  return ok({
    label,
    components,
    keyId,
    algorithm: (alg as string | undefined) ?? null,
    created,
    expires: (expires as number | undefined) ?? null,
    signatureParams: member.raw,
    signature,
  });
}

export interface MessageFacts {
  method: string;
  /** The full request URL. */
  url: URL;
  /** The authority the client addressed (Host), lowercased by the builder. */
  authority: string;
  header(name: string): string | null;
}

/** §2.5: the signature base, or why it cannot be built. */
export function buildSignatureBase(sig: MessageSignature, request: MessageFacts): Checked<string> {
  const lines: string[] = [];
  for (const name of sig.components) {
    let value: string | null;
    switch (name) {
      case "@method":
        value = request.method.toUpperCase();
        break;
      case "@target-uri":
        value = request.url.toString();
        break;
      case "@authority":
        value = request.authority.toLowerCase();
        break;
      case "@scheme":
        value = request.url.protocol.slice(0, -1);
        break;
      case "@request-target":
        value = request.url.pathname + request.url.search;
        break;
      case "@path":
        value = request.url.pathname;
        break;
      case "@query":
        value = request.url.search === "" ? "?" : request.url.search;
        break;
      default: {
        const v = request.header(name);
        value = v === null ? null : v.trim();
      }
    }
    if (value === null) return no("missing_header");
    lines.push(`"${name}": ${value}`);
  }
  lines.push(`"@signature-params": ${sig.signatureParams}`);
  return ok(lines.join("\n"));
}

/** docs/api.md §11 for RFC 9421: coverage, `created` window and expiry, then the base. */
export function checkMessageSignature(sig: MessageSignature, request: MessageFacts, nowMs: number): Checked<string> {
  const has = (c: string) => sig.components.includes(c);
  const targetCovered = has("@target-uri") || (has("@authority") && (has("@path") || has("@request-target")));
  if (!has("@method") || !targetCovered || !has("content-digest")) return no("missing_component");
  const createdMs = sig.created * 1000;
  if (createdMs > nowMs + DATE_MAX_FUTURE_MS || createdMs < nowMs - DATE_MAX_PAST_MS) return no("date_out_of_window");
  if (sig.expires !== null && sig.expires * 1000 < nowMs) return no("expired");
  return buildSignatureBase(sig, request);
}

/** RFC 9530: the `sha-256` byte sequence of a Content-Digest dictionary, or null. */
export function sha256FromContentDigest(value: string | null): Uint8Array<ArrayBuffer> | null {
  if (!value) return null;
  const dict = parseDictionary(value);
  const item = dict?.get("sha-256")?.item;
  return item instanceof Uint8Array && item.length === 32 ? item : null;
}
