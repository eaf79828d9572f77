/**
 * The TOTP micro-benchmark (scripts/bench.mjs): the server's own TOTP code, run in
 * workerd in a loop. Over HTTP a TOTP code can be accepted only once per time step
 * (replay protection), so "verifications per second" cannot be measured with
 * requests; this Worker runs the same functions the Durable Object runs, `n` times
 * per request, and the benchmark divides workerd's CPU time by `n`.
 *
 *   POST /?op=generate&n=N   what beginning an enrolment computes (durable/twoFactor.ts
 *                            beginEnrolment, routes/twoFactor.ts): 20 random bytes,
 *                            sealed with AES-256-GCM, base32, and the otpauth:// URI
 *   POST /?op=qr&n=N         the QR code of that URI as SVG (uqr), the rest of the
 *                            enrolment response
 *   POST /?op=verify&n=N     what checking a code computes before the transaction
 *                            (verifyTotp): unseal the secret, then find the matching
 *                            step in the ±1 window (three HOTP codes)
 *   GET /                    nothing: the readiness probe
 *
 * workerd's clock does not advance while a request computes, so the timing is
 * taken outside, from the process's CPU time.
 */
import { renderSVG } from "uqr";
import { findTotpSteps, TOTP_SECRET_BYTES, totpCodeAt, totpKeyUri, totpSecretToBase32 } from "../../src/domain/totp";
import { base64urlEncode, randomBytes } from "../../src/lib/bytes";
import { loadDataKeys, openTotpSecret, sealTotpSecret } from "../../src/lib/dataKeys";

const MAX_ITERATIONS = 1_000_000;
const ISSUER = "id.example.org";
const ACCOUNT = "owner";

/**
 * A throwaway DATA_KEY for this isolate (the benchmark needs the derivation, not a
 * secret), made on first use: workerd allows no random values at global scope.
 */
let dataKey: string | undefined;
const dataKeys = () => loadDataKeys((dataKey ??= base64urlEncode(randomBytes(32))));

async function generate(n: number): Promise<number> {
  const keys = await dataKeys();
  let chars = 0;
  for (let i = 0; i < n; i++) {
    const secret = randomBytes(TOTP_SECRET_BYTES);
    const sealed = await sealTotpSecret(keys, secret);
    const uri = totpKeyUri({ secretBase32: totpSecretToBase32(secret), issuer: ISSUER, account: ACCOUNT });
    chars += sealed.length + uri.length;
  }
  return chars;
}

function qr(n: number): number {
  const uri = totpKeyUri({
    secretBase32: totpSecretToBase32(randomBytes(TOTP_SECRET_BYTES)),
    issuer: ISSUER,
    account: ACCOUNT,
  });
  let chars = 0;
  for (let i = 0; i < n; i++) chars += renderSVG(uri).length;
  return chars;
}

async function verify(n: number): Promise<number> {
  const keys = await dataKeys();
  const secret = randomBytes(TOTP_SECRET_BYTES);
  const sealed = await sealTotpSecret(keys, secret);
  const nowMs = Date.now();
  const code = totpCodeAt(secret, nowMs);
  let matched = 0;
  for (let i = 0; i < n; i++) {
    matched += findTotpSteps(await openTotpSecret(keys, sealed), code, nowMs).length;
  }
  // The right code for this moment must match in every iteration, or this measured the wrong thing.
  if (matched < n) throw new Error(`only ${matched} of ${n} verifications matched`);
  return matched;
}

const OPERATIONS: Record<string, (n: number) => number | Promise<number>> = { generate, qr, verify };

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (request.method === "GET" && url.pathname === "/") return new Response("ok");
    const op = OPERATIONS[url.searchParams.get("op") ?? ""];
    const n = Number(url.searchParams.get("n"));
    if (request.method !== "POST" || !op || !Number.isInteger(n) || n < 1 || n > MAX_ITERATIONS) {
      return Response.json({ error: "POST /?op=generate|qr|verify&n=1..1000000" }, { status: 400 });
    }
    return Response.json({ n, result: await op(n) });
  },
} satisfies ExportedHandler;
