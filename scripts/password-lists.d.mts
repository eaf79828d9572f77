// Types for password-lists.mjs, so scripts/build-web.mjs's callers and the SDK's tests can import it.
export declare const PASSWORD_LISTS_FORMAT: 1;

export declare function passwordLists(): {
  passwords: string[];
  diceware: string[];
  commonWords: string[];
  firstnames: string[];
};
export declare function pack(list: string[]): string;
export declare function passwordListsJson(): string;
export declare function passwordListsAsset(): { fileName: string; contents: string; integrity: string };
