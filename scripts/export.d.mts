// Types for export.mjs, so the TypeScript tests (test/scripts/) can import it.

export declare const TOKEN_ENV: string;
export declare const USAGE: string;

export declare class ExportError extends Error {}

export interface ExportOptions {
  url?: string;
  out?: string;
  token?: string;
  force: boolean;
  help?: boolean;
}

export declare function parseArgs(argv: string[]): ExportOptions;
export declare function normalizeUrl(value: string): string;
export declare function defaultOutFile(origin: string, now?: Date): string;

export declare function exportArchive(options: {
  url: string;
  token: string | undefined;
  out?: string;
  force?: boolean;
  fetchImpl?: typeof fetch;
  log?: (line: string) => void;
  now?: Date;
}): Promise<string>;

export declare function main(
  argv: string[],
  options?: {
    env?: Record<string, string | undefined>;
    log?: (line: string) => void;
    error?: (line: string) => void;
    fetchImpl?: typeof fetch;
  },
): Promise<number>;
