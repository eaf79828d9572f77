/**
 * A fake federation peer for tests: an RSA-2048 actor that signs its deliveries the
 * way Mastodon does (draft-cavage-12, rsa-sha256 over (request-target) host date
 * digest), and a stand-in for the network that serves its actor document.
 * Runtime-neutral (WebCrypto only).
 */
import { afterEach, beforeEach, vi, type MockInstance } from "vitest";
import { encodeBase64, formatSignatureHeader } from "../../src/domain/httpSignatures";
import { derToPem } from "../../src/lib/federationKey";

const RSA = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

export interface Peer {
  actorId: string;
  keyId: string;
  privateKey: CryptoKey;
  publicKeyPem: string;
  /** The actor document the peer serves at actorId. */
  actor: Record<string, unknown>;
}

export async function makePeer(actorId = "https://peer.example/users/alice"): Promise<Peer> {
  const { privateKey, publicKey } = (await crypto.subtle.generateKey(
    { ...RSA, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
    true,
    ["sign", "verify"],
  )) as CryptoKeyPair;
  const publicKeyPem = derToPem((await crypto.subtle.exportKey("spki", publicKey)) as ArrayBuffer, "PUBLIC KEY");
  const keyId = `${actorId}#main-key`;
  return {
    actorId,
    keyId,
    privateKey,
    publicKeyPem,
    actor: {
      "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
      id: actorId,
      type: "Person",
      inbox: `${actorId}/inbox`,
      publicKey: { id: keyId, owner: actorId, publicKeyPem },
    },
  };
}

export interface SignOptions {
  /** Defaults to now. */
  date?: Date;
  /** Components to sign; default (request-target) host date digest. */
  components?: string[];
  keyId?: string;
  key?: CryptoKey;
  /** Override the Digest header value (after signing, it is what is sent). */
  digest?: string;
  /** Send the body with these bytes instead of the signed ones. */
  tamperBody?: string;
  algorithm?: string;
  contentType?: string;
}

/** A signed POST of `activity` to `url`. */
export async function signedPost(peer: Peer, url: string, activity: unknown, options: SignOptions = {}): Promise<Request> {
  const target = new URL(url);
  const body = typeof activity === "string" ? activity : JSON.stringify(activity);
  const bytes = new TextEncoder().encode(body);
  const headers: Record<string, string> = {
    host: target.host,
    date: (options.date ?? new Date()).toUTCString(),
    digest: options.digest ?? `SHA-256=${encodeBase64(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)))}`,
    "content-type": options.contentType ?? "application/activity+json",
  };
  const components = options.components ?? ["(request-target)", "host", "date", "digest"];
  const lines = components.map((c) =>
    c === "(request-target)" ? `(request-target): post ${target.pathname}${target.search}` : `${c}: ${headers[c]}`,
  );
  const signature = new Uint8Array(
    await crypto.subtle.sign(RSA, options.key ?? peer.privateKey, new TextEncoder().encode(lines.join("\n"))),
  );
  let header = formatSignatureHeader({ keyId: options.keyId ?? peer.keyId, headers: components, signature });
  if (options.algorithm) header = header.replace('algorithm="rsa-sha256"', `algorithm="${options.algorithm}"`);
  return new Request(url, {
    method: "POST",
    headers: { ...headers, signature: header },
    body: options.tamperBody ?? body,
  });
}

/**
 * The network as the Worker sees it: GETs of a known document URL (fragment
 * dropped) answer it, or what its responder makes; POSTs to a known inbox go to
 * its handler; anything else is a 404. `requests` records the URLs fetched,
 * `posts` the requests delivered.
 */
export class FakeFediverse {
  readonly documents = new Map<string, unknown>();
  readonly responders = new Map<string, () => Response>();
  readonly inboxes = new Map<string, (request: Request) => Response | Promise<Response>>();
  readonly requests: string[] = [];
  readonly posts: Request[] = [];

  serve(url: string, doc: unknown): void {
    this.documents.set(url, doc);
  }

  /** GETs of `url` answer a fresh `make()`: a hand-made response (a streamed body, odd headers). */
  respond(url: string, make: () => Response): void {
    this.responders.set(url, make);
  }

  inbox(url: string, handler: (request: Request) => Response | Promise<Response>): void {
    this.inboxes.set(url, handler);
  }

  readonly fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const url = request.url;
    this.requests.push(url);
    if (request.method === "POST") {
      const handler = this.inboxes.get(url);
      if (!handler) return new Response("no inbox", { status: 404 });
      this.posts.push(request.clone());
      return handler(request);
    }
    const responder = this.responders.get(url.split("#")[0]!);
    if (responder) return responder();
    const doc = this.documents.get(url.split("#")[0]!);
    if (doc === undefined) return new Response("not found", { status: 404 });
    return new Response(JSON.stringify(doc), { status: 200, headers: { "content-type": "application/activity+json" } });
  };
}

/** A POST of `activity` signed with RFC 9421 (rsa-v1_5-sha256, Content-Digest). */
export async function signedPost9421(
  peer: Peer,
  url: string,
  activity: unknown,
  options: { components?: string[]; created?: number; tamperBody?: string; alg?: string } = {},
): Promise<Request> {
  const target = new URL(url);
  const body = JSON.stringify(activity);
  const digest = `sha-256=:${encodeBase64(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(body))))}:`;
  const components = options.components ?? ["@method", "@target-uri", "content-digest", "content-type"];
  const created = options.created ?? Math.floor(Date.now() / 1000);
  const params = `(${components.map((c) => `"${c}"`).join(" ")});created=${created};keyid="${peer.keyId}";alg="${options.alg ?? "rsa-v1_5-sha256"}"`;
  const values: Record<string, string> = {
    "@method": "POST",
    "@target-uri": target.toString(),
    "@authority": target.host,
    "@path": target.pathname,
    "content-digest": digest,
    "content-type": "application/activity+json",
  };
  const base = [...components.map((c) => `"${c}": ${values[c]}`), `"@signature-params": ${params}`].join("\n");
  const signature = new Uint8Array(await crypto.subtle.sign(RSA, peer.privateKey, new TextEncoder().encode(base)));
  return new Request(url, {
    method: "POST",
    headers: {
      "content-type": "application/activity+json",
      "content-digest": digest,
      "signature-input": `sig1=${params}`,
      signature: `sig1=:${encodeBase64(signature)}:`,
    },
    body: options.tamperBody ?? body,
  });
}

/**
 * Sends every outgoing fetch of the calling test file to a FakeFediverse, a fresh one
 * for each test. Call it at the top level of the file; the handle it returns always
 * stands for the current test's fediverse. Only this spy is restored after each test
 * (vi.restoreAllMocks would also undo the clock's spy, test/helpers/clock.ts).
 */
export function useFakeFediverse(): FakeFediverse {
  let current = new FakeFediverse();
  let spy: MockInstance<typeof fetch> | undefined;
  beforeEach(() => {
    current = new FakeFediverse();
    spy = vi.spyOn(globalThis, "fetch").mockImplementation(current.fetch);
  });
  afterEach(() => spy?.mockRestore());
  return new Proxy({} as FakeFediverse, {
    get: (_target, prop) => Reflect.get(current, prop, current),
  });
}
