/** Fixed test settings, shared by vitest.config.ts and the tests. */
export const TEST_ORIGIN = "https://id.example.test";
export const TEST_SETUP_CODE = "TEST-SETUP-CODE-0123456789-ABCDEFGHJK";

/**
 * RFC 7636 Appendix B's example PKCE pair: a code verifier and its S256 challenge,
 * for tests that need a pair fixed in advance (test/helpers/indieauth.ts's `makePkce`
 * makes fresh ones).
 */
export const RFC7636_PKCE = {
  verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
  challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
} as const;
