// Responses from a real browser: Chromium's DevTools virtual authenticator
// (scripts/make-webauthn-fixtures.mjs), over known challenges, verified by the
// passkey policy with the expectations recorded next to them. The public key the
// server derives from the COSE key must equal the SPKI the browser reported.
import { describe, expect, it } from "vitest";
import { type StoredPasskey, rpIdFor, verifyAuthentication, verifyRegistration } from "../../src/domain/passkeys";
import { base64urlDecode } from "../../src/lib/bytes";
import { authenticationResponseSchema, registrationResponseSchema } from "../../src/schemas/passkeys";
import eddsa from "../fixtures/webauthn/chromium-eddsa.json";
import es256 from "../fixtures/webauthn/chromium-es256.json";
import rs256 from "../fixtures/webauthn/chromium-rs256.json";

const bytes = (b64: string) => {
  const out = base64urlDecode(b64);
  if (!out) throw new Error("fixture is not base64url");
  return out;
};

describe.each([
  ["ES256", es256],
  ["EdDSA", eddsa],
  ["RS256", rs256],
])("Chromium %s passkey", (_name, fixture) => {
  const registrationExpectations = {
    challenge: bytes(fixture.registration.challenge),
    origin: fixture.origin,
    rpId: fixture.rpId,
  };
  const expectAuth = (challenge: string) => ({
    challenge: bytes(challenge),
    origin: fixture.origin,
    rpId: fixture.rpId,
    ownerId: fixture.userId,
  });

  it("was made for the RP ID the server derives from its origin", () => {
    expect(rpIdFor(fixture.origin, { allowInsecureLoopback: true })).toMatchObject({ ok: true, rpId: fixture.rpId });
  });

  it("parses with the wire schemas (extension results accepted, then dropped)", () => {
    const registration = registrationResponseSchema.parse(fixture.registration.response);
    expect(registration.clientExtensionResults).toEqual({});
    for (const { response } of fixture.authentications) authenticationResponseSchema.parse(response);
  });

  it("registers, then verifies two assertions with increasing counters", async () => {
    const registered = await verifyRegistration(fixture.registration.response, registrationExpectations);
    if (!registered.ok) throw new Error(`refused: ${registered.reason}`);
    expect(registered.passkey).toEqual({
      credentialId: fixture.expected.credentialId,
      publicKeySpki: fixture.expected.publicKeySpki,
      algorithm: fixture.algorithm,
      signCount: fixture.expected.registrationSignCount,
      backupEligible: fixture.expected.backupEligible,
      backedUp: fixture.expected.backedUp,
    });

    let stored: StoredPasskey = registered.passkey;
    for (const [i, { challenge, response }] of fixture.authentications.entries()) {
      const verdict = await verifyAuthentication(response, stored, expectAuth(challenge));
      expect(verdict).toEqual({
        ok: true,
        use: {
          signCount: fixture.expected.authenticationSignCounts[i],
          backedUp: fixture.expected.backedUp,
          cloneSuspected: false,
          amr: "hwk",
        },
      });
      if (verdict.ok) stored = { ...stored, signCount: verdict.use.signCount };
    }

    // Replaying the first assertion (over its own challenge) after the second: the
    // counter went backwards on a device-bound credential.
    const [first] = fixture.authentications;
    expect(await verifyAuthentication(first!.response, stored, expectAuth(first!.challenge))).toEqual({
      ok: false,
      reason: "counter_not_increased",
    });
  });

  it("refuses the same responses for another challenge, origin or RP ID", async () => {
    const other = fixture.authentications[1]!.challenge;
    expect(
      await verifyRegistration(fixture.registration.response, { ...registrationExpectations, challenge: bytes(other) }),
    ).toEqual({ ok: false, reason: "challenge_mismatch" });
    expect(
      await verifyRegistration(fixture.registration.response, { ...registrationExpectations, origin: "http://localhost" }),
    ).toEqual({ ok: false, reason: "origin_mismatch" });
    expect(
      await verifyRegistration(fixture.registration.response, { ...registrationExpectations, rpId: "127.0.0.1" }),
    ).toEqual({ ok: false, reason: "rp_id_mismatch" });

    const registered = await verifyRegistration(fixture.registration.response, registrationExpectations);
    if (!registered.ok) throw new Error(`refused: ${registered.reason}`);
    const { challenge, response } = fixture.authentications[0]!;
    expect(
      await verifyAuthentication(response, registered.passkey, { ...expectAuth(challenge), ownerId: fixture.registration.challenge }),
    ).toEqual({ ok: false, reason: "user_handle_mismatch" });
    expect(await verifyAuthentication(response, registered.passkey, expectAuth(other))).toEqual({
      ok: false,
      reason: "challenge_mismatch",
    });
  });
});

it("a passkey's assertion does not verify under another passkey's key", async () => {
  const registered = await verifyRegistration(es256.registration.response, {
    challenge: bytes(es256.registration.challenge),
    origin: es256.origin,
    rpId: es256.rpId,
  });
  if (!registered.ok) throw new Error(`refused: ${registered.reason}`);
  const { challenge, response } = eddsa.authentications[0]!;
  const forged = { ...response, id: es256.expected.credentialId, rawId: es256.expected.credentialId };
  const verdict = await verifyAuthentication(forged, registered.passkey, {
    challenge: bytes(challenge),
    origin: eddsa.origin,
    rpId: eddsa.rpId,
    ownerId: eddsa.userId,
  });
  expect(verdict).toEqual({ ok: false, reason: "signature_invalid" });
});
