/** Fixed test settings, shared by vitest.config.ts and the tests. */
export const TEST_ORIGIN = "https://id.example.test";
export const TEST_SETUP_CODE = "TEST-SETUP-CODE-0123456789-ABCDEFGHJK";
