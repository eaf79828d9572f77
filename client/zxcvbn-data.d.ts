// The zxcvbn-ts English pack's translations module, imported on its own so the
// bundle leaves out the dictionaries the package's index pulls in.
declare module "@zxcvbn-ts/language-en/dist/translations.mjs" {
  import type { TranslationKeys } from "@zxcvbn-ts/core";
  const translations: TranslationKeys;
  export default translations;
}

// The cut word lists, generated at build time by scripts/password-lists.mjs (an
// esbuild plugin in scripts/build-web.mjs, a Vite plugin in client/vitest.config.ts).
// Each is packed as one string; client/passwordDictionaries.ts unpacks it.
declare module "virtual:password-lists" {
  export const passwords: string;
  export const commonWords: string;
  export const firstnames: string;
}
