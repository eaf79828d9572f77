// Types for runner.mjs, so the TypeScript tests of scripts/deploy.mjs can import it.

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  input?: string;
  echo?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type Runner = (cmd: string, args: string[], options?: RunOptions) => Promise<RunResult>;

export declare const run: Runner;
