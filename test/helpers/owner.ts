/**
 * A scripted owner for tests: it holds Ed25519/X25519 keys made with jose, signs
 * challenge assertions, and keeps the refresh cookie and access token the way a
 * browser would. It speaks only the public HTTP protocol, so the same helper drives
 * the Worker in workerd (SELF.fetch) and a real `npm run dev` over the network.
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { serverNowMs } from "./clock";

export type Fetcher = (request: Request) => Promise<Response>;

export interface KeyPairWithJwk {
  privateKey: CryptoKey;
  publicJwk: JWK & { kid: string; use: "sig" | "enc" };
}

export async function makeKeyPair(use: "sig" | "enc"): Promise<KeyPairWithJwk> {
  const { privateKey, publicKey } = await generateKeyPair(use === "sig" ? "Ed25519" : "ECDH-ES+A256KW", {
    crv: use === "sig" ? "Ed25519" : "X25519",
    extractable: true,
  });
  const { kty, crv, x } = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint({ kty, crv, x }, "sha256");
  return { privateKey, publicJwk: { kty: kty!, crv, x, kid, use } };
}

export async function makeOwnerKeys() {
  const [sig, enc] = await Promise.all([makeKeyPair("sig"), makeKeyPair("enc")]);
  return { sig, enc, publicKeys: { sig: sig.publicJwk, enc: enc.publicJwk } };
}

export type OwnerKeys = Awaited<ReturnType<typeof makeOwnerKeys>>;

export function refreshCookieFrom(response: Response): string | undefined {
  const headers = response.headers as Headers & { getSetCookie(): string[] };
  for (const line of headers.getSetCookie()) {
    const m = line.match(/^__Secure-rt=([^;]*)/);
    if (m) return m[1] || undefined;
  }
  return undefined;
}

export interface AssertionOptions {
  nonce?: string;
  aud?: string;
  iat?: number;
  exp?: number;
  alg?: "Ed25519" | "EdDSA";
  key?: CryptoKey;
  kid?: string;
}

export class OwnerClient {
  accessToken: string | undefined;
  refreshToken: string | undefined;
  sessionId: string | undefined;

  constructor(
    readonly fetcher: Fetcher,
    readonly origin: string,
    public keys: OwnerKeys,
    /** Headers added to every request (e.g. a client address). */
    readonly extraHeaders: Record<string, string> = {},
  ) {}

  static async create(fetcher: Fetcher, origin: string, extraHeaders: Record<string, string> = {}) {
    return new OwnerClient(fetcher, origin, await makeOwnerKeys(), extraHeaders);
  }

  request(method: string, path: string, init: { body?: unknown; headers?: Record<string, string>; bearer?: boolean | string; cookie?: string | null } = {}) {
    const headers: Record<string, string> = { ...this.extraHeaders, ...init.headers };
    if (init.body !== undefined) headers["content-type"] ??= "application/json";
    const bearer = init.bearer === true ? this.accessToken : init.bearer;
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    const cookie = init.cookie === undefined ? this.refreshToken : init.cookie;
    if (cookie && path.startsWith("/auth")) headers.cookie = `__Secure-rt=${cookie}`;
    return this.fetcher(
      new Request(this.origin + path, {
        method,
        headers,
        body: init.body === undefined ? undefined : typeof init.body === "string" ? init.body : JSON.stringify(init.body),
      }),
    );
  }

  /** Bearer call to /api. */
  api(method: string, path: string, body?: unknown) {
    return this.request(method, path, { body, bearer: true });
  }

  async challenge(): Promise<string> {
    const res = await this.request("POST", "/auth/challenge");
    if (res.status !== 200) throw new Error(`challenge: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { challenge: string }).challenge;
  }

  async assertion(options: AssertionOptions = {}): Promise<string> {
    const nonce = options.nonce ?? (await this.challenge());
    const now = Math.floor(serverNowMs() / 1000);
    const iat = options.iat ?? now;
    return new SignJWT({ nonce })
      .setProtectedHeader({ alg: options.alg ?? "Ed25519", typ: "JWT", kid: options.kid ?? this.keys.sig.publicJwk.kid })
      .setAudience(options.aud ?? this.origin)
      .setIssuedAt(iat)
      .setExpirationTime(options.exp ?? iat + 120)
      .sign(options.key ?? this.keys.sig.privateKey);
  }

  /** Remembers the tokens of a successful login/refresh response. */
  async adopt(res: Response): Promise<Response> {
    if (res.ok) {
      const body = (await res.clone().json()) as { accessToken: string; sessionId: string };
      this.accessToken = body.accessToken;
      this.sessionId = body.sessionId;
      this.refreshToken = refreshCookieFrom(res) ?? this.refreshToken;
    }
    return res;
  }

  async claim(setupCode: string, extra: Record<string, unknown> = {}): Promise<Response> {
    const body = {
      setupCode,
      publicKeys: this.keys.publicKeys,
      escrow: "escrow-blob-v1",
      assertion: await this.assertion(),
      deviceName: "test laptop",
      ...extra,
    };
    return this.adopt(await this.request("POST", "/auth/setup", { body }));
  }

  async login(extra: Record<string, unknown> = {}): Promise<Response> {
    return this.adopt(
      await this.request("POST", "/auth/login", { body: { assertion: await this.assertion(), deviceName: "test", ...extra } }),
    );
  }

  async refresh(cookie?: string | null): Promise<Response> {
    return this.adopt(await this.request("POST", "/auth/refresh", { cookie }));
  }

  /** A second device of the same owner: same keys, its own cookie and token. */
  device(): OwnerClient {
    return new OwnerClient(this.fetcher, this.origin, this.keys, this.extraHeaders);
  }
}

export async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}
