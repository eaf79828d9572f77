/** Byte helpers shared by the server, the tests and (later) the browser client. */

const encoder = new TextEncoder();

export function utf8(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text) as Uint8Array<ArrayBuffer>;
}

/** Bytes as a binary string (one character per byte), what `btoa` encodes. */
export function binaryString(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return binary;
}

/** A binary string's bytes (what `atob` returns). */
export function binaryBytes(binary: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function base64urlEncode(bytes: Uint8Array): string {
  return btoa(binaryString(bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Returns null for anything that is not unpadded base64url. */
export function base64urlDecode(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  return binaryBytes(atob(text.replace(/-/g, "+").replace(/_/g, "/")));
}

/**
 * JSON from bytes. JSON is UTF-8 (RFC 8259 §8.1): bytes that are not are refused
 * (a TypeError), not replaced with U+FFFD; bad JSON throws as JSON.parse does.
 */
export function parseJsonUtf8(bytes: Uint8Array): unknown {
  return JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
}

export function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(length));
}

/** A fresh random identifier or token: `byteLength` CSPRNG bytes, base64url. */
export function randomToken(byteLength = 32): string {
  return base64urlEncode(randomBytes(byteLength));
}

export async function sha256(data: string | Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const input = typeof data === "string" ? utf8(data) : data;
  return new Uint8Array(await crypto.subtle.digest("SHA-256", input));
}

/** SHA-256, base64url: how high-entropy tokens are stored. */
export async function sha256Base64url(data: string): Promise<string> {
  return base64urlEncode(await sha256(data));
}

/**
 * Compares two strings in time that depends only on their length: for values whose
 * length is public (a TOTP code, an S256 challenge). secretsEqual hides it too.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * Compares two secrets without leaking where they differ. Both sides are hashed
 * first so that lengths leak nothing either.
 */
export async function secretsEqual(a: string, b: string): Promise<boolean> {
  const [ha, hb] = await Promise.all([sha256(a), sha256(b)]);
  let diff = 0;
  for (let i = 0; i < ha.length; i++) diff |= ha[i]! ^ hb[i]!;
  return diff === 0;
}
