#!/usr/bin/env node
/**
 * Regenerates test/fixtures/webauthn/*.json: real WebAuthn responses from Chromium's
 * DevTools virtual authenticator (CTAP2, internal transport, resident keys, user
 * verification, PRF), over KNOWN challenges, so the unit tests check the server's
 * verification against bytes a browser produced rather than only against the
 * project's own soft authenticator.
 *
 * For each algorithm: one registration, then two authentications (the virtual
 * authenticator's counter increases). The page is served from a loopback HTTP
 * server at http://localhost:<port> (a secure context, and `localhost` is a valid
 * RP ID); origin, RP ID, user id and challenges are written next to the responses.
 *
 *   node scripts/make-webauthn-fixtures.mjs   (CHROMIUM_PATH overrides /usr/bin/chromium)
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(ROOT, "test/fixtures/webauthn");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Known, distinct, reproducible 32-byte values (a label's SHA-256). */
const known = (label) => createHash("sha256").update(`indienet webauthn fixture ${label}`).digest("base64url");

const VARIANTS = [
  { name: "es256", alg: -7 },
  { name: "eddsa", alg: -8 },
  { name: "rs256", alg: -257 },
];

const server = createServer((_req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end("<!doctype html><title>webauthn fixtures</title>");
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const port = server.address().port;
const origin = `http://localhost:${port}`;
const rpId = "localhost";

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
});
try {
  mkdirSync(OUT, { recursive: true });
  for (const variant of VARIANTS) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    const cdp = await context.newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        transport: "internal",
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        hasPrf: true,
        automaticPresenceSimulation: true,
      },
    });

    const userId = known(`${variant.name} user`);
    const registrationChallenge = known(`${variant.name} registration`);
    const authChallenges = [known(`${variant.name} authentication 1`), known(`${variant.name} authentication 2`)];

    let registration;
    try {
      registration = await page.evaluate(
        async ({ rpId, userId, challenge, alg }) => {
          const credential = await navigator.credentials.create({
            publicKey: PublicKeyCredential.parseCreationOptionsFromJSON({
              rp: { id: rpId, name: rpId },
              user: { id: userId, name: `owner@${rpId}`, displayName: `owner@${rpId}` },
              challenge,
              pubKeyCredParams: [{ type: "public-key", alg }],
              timeout: 300000,
              authenticatorSelection: { residentKey: "required", requireResidentKey: true, userVerification: "required" },
              attestation: "none",
              extensions: { prf: {} },
            }),
          });
          return credential.toJSON();
        },
        { rpId, userId, challenge: registrationChallenge, alg: variant.alg },
      );
    } catch (error) {
      console.warn(`${variant.name}: Chromium's virtual authenticator refused it (${error.message.split("\n")[0]}); skipped`);
      await context.close();
      continue;
    }

    const authentications = [];
    for (const challenge of authChallenges) {
      const response = await page.evaluate(
        async ({ rpId, challenge }) => {
          const credential = await navigator.credentials.get({
            publicKey: PublicKeyCredential.parseRequestOptionsFromJSON({
              challenge,
              rpId,
              timeout: 300000,
              userVerification: "required",
              allowCredentials: [],
            }),
          });
          return credential.toJSON();
        },
        { rpId, challenge },
      );
      authentications.push({ challenge, response });
    }
    // What the tests expect, read from the flags byte and counter of each
    // authenticator data (WebAuthn L3 §6.1) here, independently of the server's code.
    const flagsAndCounter = (b64) => {
      const bytes = Buffer.from(b64, "base64url");
      return { flags: bytes[32], signCount: bytes.readUInt32BE(33) };
    };
    const created = flagsAndCounter(registration.response.authenticatorData);
    const expected = {
      credentialId: registration.rawId,
      /** SPKI DER as the browser reports it (getPublicKey()). */
      publicKeySpki: registration.response.publicKey,
      backupEligible: (created.flags & 0x08) !== 0,
      backedUp: (created.flags & 0x10) !== 0,
      registrationSignCount: created.signCount,
      authenticationSignCounts: authentications.map((a) => flagsAndCounter(a.response.response.authenticatorData).signCount),
    };

    const fixture = {
      generatedBy: "scripts/make-webauthn-fixtures.mjs",
      browser: `Chromium ${browser.version()}, DevTools virtual authenticator (ctap2, internal, resident key, UV, PRF)`,
      origin,
      rpId,
      userId,
      algorithm: variant.alg,
      registration: { challenge: registrationChallenge, response: registration },
      authentications,
      expected,
    };
    const file = join(OUT, `chromium-${variant.name}.json`);
    writeFileSync(file, `${JSON.stringify(fixture, null, 2)}\n`);
    console.log(`wrote ${file}`);
    await context.close();
  }
} finally {
  await browser.close();
  server.close();
}
