// The zxcvbn-ts English pack's translations module, imported on its own so the
// bundle leaves out the dictionaries the package's index pulls in.
declare module "@zxcvbn-ts/language-en/dist/translations.mjs" {
  import type { TranslationKeys } from "@zxcvbn-ts/core";
  const translations: TranslationKeys;
  export default translations;
}
