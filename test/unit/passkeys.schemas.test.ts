// The §12 wire shapes: bounded WebAuthn responses (an oversized one is a 400 before
// any parsing), extension results accepted and dropped, the one-factor rule.
import { describe, expect, it } from "vitest";
import { authenticationOptions, registrationOptions } from "../../src/domain/passkeys";
import { base64urlEncode, randomBytes } from "../../src/lib/bytes";
import {
  authenticationResponseSchema,
  passkeyDeleteRequestSchema,
  passkeyRegisterRequestSchema,
  passkeyUpdateRequestSchema,
  registrationResponseSchema,
} from "../../src/schemas/passkeys";
import { SoftAuthenticator } from "../helpers/softAuthenticator";
import { passkeyCreationOptionsResponseSchema, passkeyRequestOptionsResponseSchema } from "../../src/schemas/passkeyResponses";

const ORIGIN = "https://id.example.test";
const RP_ID = "id.example.test";

async function responses() {
  const authenticator = await SoftAuthenticator.create();
  const registration = await authenticator.register({ challenge: randomBytes(32), origin: ORIGIN, rpId: RP_ID });
  const authentication = await authenticator.authenticate({
    challenge: randomBytes(32),
    origin: ORIGIN,
    rpId: RP_ID,
    userHandle: base64urlEncode(randomBytes(32)),
  });
  return { registration, authentication };
}

describe("RegistrationResponseJSON", () => {
  it("accepts a response and drops its extension results", async () => {
    const { registration } = await responses();
    expect(registration.clientExtensionResults).toEqual({ prf: { enabled: true } });
    const parsed = registrationResponseSchema.parse(registration);
    expect(parsed.clientExtensionResults).toEqual({});
    expect(parsed.response.clientDataJSON).toBe(registration.response.clientDataJSON);
  });

  it("refuses extension results that are not an object", async () => {
    const { registration } = await responses();
    expect(registrationResponseSchema.safeParse({ ...registration, clientExtensionResults: "x" }).success).toBe(false);
  });

  it("refuses a credential id over 1,023 bytes, and id differing from rawId", async () => {
    const { registration } = await responses();
    const long = base64urlEncode(randomBytes(1024));
    expect(registrationResponseSchema.safeParse({ ...registration, id: long, rawId: long }).success).toBe(false);
    const max = base64urlEncode(randomBytes(1023));
    expect(registrationResponseSchema.safeParse({ ...registration, id: max, rawId: max }).success).toBe(true);
    expect(registrationResponseSchema.safeParse({ ...registration, rawId: max }).success).toBe(false);
  });

  it("refuses oversized or non-base64url members and another type", async () => {
    const { registration } = await responses();
    const withResponse = (patch: Record<string, unknown>) => ({
      ...registration,
      response: { ...registration.response, ...patch },
    });
    expect(registrationResponseSchema.safeParse(withResponse({ clientDataJSON: "A".repeat(6000) })).success).toBe(false);
    expect(registrationResponseSchema.safeParse(withResponse({ attestationObject: "A".repeat(22000) })).success).toBe(false);
    expect(registrationResponseSchema.safeParse(withResponse({ clientDataJSON: "eyJ0eXBl==" })).success).toBe(false);
    expect(registrationResponseSchema.safeParse({ ...registration, type: "password" }).success).toBe(false);
  });

  it("is the credential of POST /api/passkeys, with an optional name and prf flag", async () => {
    const { registration } = await responses();
    expect(passkeyRegisterRequestSchema.safeParse({ credential: registration, name: " Laptop ", prf: true }).data).toMatchObject({
      name: "Laptop",
      prf: true,
    });
    expect(passkeyRegisterRequestSchema.safeParse({ credential: registration, name: "x".repeat(101) }).success).toBe(false);
  });
});

describe("AuthenticationResponseJSON", () => {
  it("accepts a response, with or without userHandle", async () => {
    const { authentication } = await responses();
    expect(authenticationResponseSchema.safeParse(authentication).success).toBe(true);
    const { userHandle: _, ...rest } = authentication.response;
    expect(authenticationResponseSchema.safeParse({ ...authentication, response: rest }).success).toBe(true);
    expect(
      authenticationResponseSchema.safeParse({ ...authentication, response: { ...rest, userHandle: null } }).success,
    ).toBe(true);
  });

  it("refuses an oversized signature or user handle, and short authenticator data", async () => {
    const { authentication } = await responses();
    const withResponse = (patch: Record<string, unknown>) => ({
      ...authentication,
      response: { ...authentication.response, ...patch },
    });
    expect(authenticationResponseSchema.safeParse(withResponse({ signature: "A".repeat(1400) })).success).toBe(false);
    expect(authenticationResponseSchema.safeParse(withResponse({ userHandle: base64urlEncode(randomBytes(65)) })).success).toBe(false);
    expect(authenticationResponseSchema.safeParse(withResponse({ authenticatorData: base64urlEncode(randomBytes(36)) })).success).toBe(false);
  });
});

describe("route bodies", () => {
  it("PATCH needs name or prf", () => {
    expect(passkeyUpdateRequestSchema.safeParse({}).success).toBe(false);
    expect(passkeyUpdateRequestSchema.safeParse({ prf: false }).success).toBe(true);
  });

  it("DELETE takes at most one factor", async () => {
    const { authentication } = await responses();
    expect(passkeyDeleteRequestSchema.safeParse({}).success).toBe(true);
    expect(passkeyDeleteRequestSchema.safeParse({ passkey: authentication }).success).toBe(true);
    expect(passkeyDeleteRequestSchema.safeParse({ passkey: authentication, code: "123456" }).success).toBe(false);
  });

  it("the options builders' output matches the response schemas", () => {
    const creation = registrationOptions({
      rpId: RP_ID,
      host: RP_ID,
      ownerHandle: "owner",
      ownerId: randomBytes(32),
      challenge: randomBytes(32),
      excludeCredentialIds: [],
    });
    expect(passkeyCreationOptionsResponseSchema.safeParse({ options: creation }).success).toBe(true);
    const request = authenticationOptions({ rpId: RP_ID, challenge: randomBytes(32) });
    expect(passkeyRequestOptionsResponseSchema.safeParse({ options: request }).success).toBe(true);
  });
});
