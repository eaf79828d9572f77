// Types for password-lists.mjs, so client/vitest.config.ts and the SDK's tests can import it.
export declare const PASSWORD_LISTS_MODULE: "virtual:password-lists";

export interface PasswordListLimits {
  passwords: number;
  commonWords: number;
  firstnamesMinLength: number;
}
export declare const PASSWORD_LIST_LIMITS: PasswordListLimits;

export declare function passwordLists(limits?: PasswordListLimits): {
  passwords: string[];
  commonWords: string[];
  firstnames: string[];
};
export declare function pack(list: string[]): string;
export declare function passwordListsSource(limits?: PasswordListLimits): string;

export declare function passwordListsEsbuildPlugin(): {
  name: string;
  setup(build: {
    onResolve(options: { filter: RegExp }, callback: (args: { path: string }) => { path: string; namespace: string }): void;
    onLoad(options: { filter: RegExp; namespace: string }, callback: () => { contents: string; loader: "js" }): void;
  }): void;
};
export declare function passwordListsVitePlugin(): {
  name: string;
  resolveId(id: string): string | undefined;
  load(id: string): string | undefined;
};
