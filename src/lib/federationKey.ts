/**
 * The instance's RSA-2048 federation key (secret FEDERATION_KEY, PKCS#8 PEM;
 * docs/api.md §11). It signs the instance's ActivityPub deliveries and its public
 * half is published in /actor. Imported once per isolate, like the instance key:
 * an RSA import parses a 1 KiB DER and would waste CPU on every request.
 */
import { binaryBytes, binaryString } from "./bytes";
import { importSecretOnce } from "./importOnce";

export interface FederationKey {
  /** RSASSA-PKCS1-v1_5 / SHA-256: `rsa-sha256` in draft-cavage. */
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** SubjectPublicKeyInfo PEM, what ActivityPub's publicKeyPem carries. */
  publicKeyPem: string;
}

export const RSA_SHA256 = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

export const loadFederationKey = importSecretOnce("FEDERATION_KEY", importFederationKey);

/** PEM (any label) → DER bytes; null if it is not one base64 PEM block. */
export function pemToDer(pem: string, label: string): Uint8Array<ArrayBuffer> | null {
  const m = pem
    .replace(/\r/g, "")
    .match(new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`));
  if (!m) return null;
  try {
    return binaryBytes(atob(m[1]!.replace(/\s+/g, "")));
  } catch {
    return null;
  }
}

export function derToPem(der: ArrayBuffer, label: string): string {
  const lines = btoa(binaryString(new Uint8Array(der))).match(/.{1,64}/g)!.join("\n");
  return `-----BEGIN ${label}-----\n${lines}\n-----END ${label}-----\n`;
}

async function importFederationKey(secret: string): Promise<FederationKey> {
  // .dev.vars may carry the PEM with literal "\n" escapes if edited by hand.
  const der = pemToDer(secret.replace(/\\n/g, "\n"), "PRIVATE KEY");
  if (!der) throw new Error("FEDERATION_KEY must be an RSA private key in PKCS#8 PEM");
  // Extractable only so that the public half can be derived from it here, once.
  const privateKey = await crypto.subtle.importKey("pkcs8", der, RSA_SHA256, true, ["sign"]);
  const jwk = (await crypto.subtle.exportKey("jwk", privateKey)) as JsonWebKey;
  const publicKey = await crypto.subtle.importKey("jwk", { kty: "RSA", n: jwk.n, e: jwk.e, ext: true }, RSA_SHA256, true, ["verify"]);
  const spki = (await crypto.subtle.exportKey("spki", publicKey)) as ArrayBuffer;
  return { privateKey, publicKey, publicKeyPem: derToPem(spki, "PUBLIC KEY") };
}
