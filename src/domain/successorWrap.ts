/**
 * Rule 2 of docs/api.md §5 returns the *same* successor to whoever presents the
 * previous token within the grace period. Refresh tokens are stored only as hashes,
 * so the successor is kept sealed (AES-256-GCM) under a key derived (HKDF-SHA256)
 * from the previous token: only a holder of the previous token can open it, and a
 * copy of the database alone opens nothing.
 */
import { base64urlDecode, base64urlEncode, randomBytes, utf8 } from "../lib/bytes";

const INFO = utf8("indienet/1 refresh successor");

async function wrapKey(previousToken: string, usage: "encrypt" | "decrypt"): Promise<CryptoKey> {
  const ikm = await crypto.subtle.importKey("raw", utf8(previousToken), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: INFO },
    ikm,
    { name: "AES-GCM", length: 256 },
    false,
    [usage],
  );
}

export async function sealSuccessor(previousToken: string, successor: string): Promise<string> {
  const iv = randomBytes(12);
  const key = await wrapKey(previousToken, "encrypt");
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, utf8(successor)));
  const out = new Uint8Array(iv.length + ct.length);
  out.set(iv);
  out.set(ct, iv.length);
  return base64urlEncode(out);
}

/** Returns null if the wrap does not open with this token. */
export async function openSuccessor(previousToken: string, wrap: string): Promise<string | null> {
  const bytes = base64urlDecode(wrap);
  if (!bytes || bytes.length < 13) return null;
  try {
    const key = await wrapKey(previousToken, "decrypt");
    const pt = await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes.slice(0, 12) }, key, bytes.slice(12));
    return new TextDecoder().decode(pt);
  } catch {
    return null;
  }
}
