// A minimal scripted owner for Node scripts (the benchmark): the plain-JavaScript
// twin of test/helpers/owner.ts, speaking only the public protocol (docs/api.md
// §3-5). It keeps its refresh cookie itself, as a browser would.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from "jose";

async function makeKeyPair(use) {
  const { privateKey, publicKey } = await generateKeyPair(use === "sig" ? "Ed25519" : "ECDH-ES+A256KW", {
    crv: use === "sig" ? "Ed25519" : "X25519",
    extractable: true,
  });
  const { kty, crv, x } = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint({ kty, crv, x }, "sha256");
  return { privateKey, publicJwk: { kty, crv, x, kid, use } };
}

/** The owner's signing and encryption key pairs, made on the "client". */
export async function makeOwnerKeys() {
  const [sig, enc] = await Promise.all([makeKeyPair("sig"), makeKeyPair("enc")]);
  return { sig, enc, publicKeys: { sig: sig.publicJwk, enc: enc.publicJwk } };
}

/** The value of the __Secure-rt cookie a response sets, if any. */
export function refreshCookieFrom(response) {
  for (const line of response.headers.getSetCookie()) {
    const m = line.match(/^__Secure-rt=([^;]*)/);
    if (m) return m[1] || undefined;
  }
  return undefined;
}

export class HttpError extends Error {
  constructor(what, status, body) {
    super(`${what}: HTTP ${status} ${body.slice(0, 300)}`);
    this.status = status;
  }
}

async function expectStatus(what, res, status) {
  if (res.status !== status) throw new HttpError(what, res.status, await res.text());
  return res.json();
}

/** One device of the owner: shares the keys, has its own session. */
export class OwnerDevice {
  constructor(origin, keys) {
    this.origin = origin;
    this.keys = keys;
    this.accessToken = undefined;
    this.refreshToken = undefined;
    this.sessionId = undefined;
  }

  device() {
    return new OwnerDevice(this.origin, this.keys);
  }

  post(path, body, headers = {}) {
    return fetch(this.origin + path, {
      method: "POST",
      headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async challenge() {
    const body = await expectStatus("POST /auth/challenge", await this.post("/auth/challenge"), 200);
    return body.challenge;
  }

  /** A login assertion (§4): a JWS over {aud, nonce, iat, exp} with the signing key. */
  async assertion(nonce) {
    const iat = Math.floor(Date.now() / 1000);
    return new SignJWT({ nonce })
      .setProtectedHeader({ alg: "Ed25519", typ: "JWT", kid: this.keys.sig.publicJwk.kid })
      .setAudience(this.origin)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 120)
      .sign(this.keys.sig.privateKey);
  }

  adopt(res, body) {
    this.accessToken = body.accessToken;
    this.sessionId = body.sessionId;
    this.refreshToken = refreshCookieFrom(res) ?? this.refreshToken;
  }

  async claim(setupCode, deviceName = "bench") {
    const res = await this.post("/auth/setup", {
      setupCode,
      publicKeys: this.keys.publicKeys,
      escrow: "bench-escrow-blob",
      assertion: await this.assertion(await this.challenge()),
      deviceName,
    });
    this.adopt(res, await expectStatus("POST /auth/setup", res, 201));
  }

  /** POST /auth/login with an assertion made beforehand. */
  async loginWith(assertion, deviceName = "bench") {
    const res = await this.post("/auth/login", { assertion, deviceName });
    this.adopt(res, await expectStatus("POST /auth/login", res, 200));
  }

  async login(deviceName) {
    await this.loginWith(await this.assertion(await this.challenge()), deviceName);
  }

  /** POST /auth/refresh with the current cookie; adopts the rotated one. */
  async refresh() {
    const res = await this.post("/auth/refresh", undefined, { cookie: `__Secure-rt=${this.refreshToken}` });
    this.adopt(res, await expectStatus("POST /auth/refresh", res, 200));
  }

  async getTwoFactor() {
    const res = await fetch(this.origin + "/api/2fa", { headers: { authorization: `Bearer ${this.accessToken}` } });
    return expectStatus("GET /api/2fa", res, 200);
  }

  async getSessions() {
    const res = await fetch(this.origin + "/api/sessions", { headers: { authorization: `Bearer ${this.accessToken}` } });
    return expectStatus("GET /api/sessions", res, 200);
  }
}

export async function createOwner(origin) {
  return new OwnerDevice(origin, await makeOwnerKeys());
}
