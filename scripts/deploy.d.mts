// Types for deploy.mjs, so the TypeScript tests (test/scripts/) can import it.
import type { Runner } from "./lib/runner.mjs";

export declare const REPO_ROOT: string;
export declare const DEPLOY_CONFIG_FILE: string;
export declare const OWNER_SETTINGS_FILE: string;
export declare const USAGE: string;

export declare class DeployError extends Error {
  stepNumber: number;
  stepTitle: string;
  reason: string;
}

export interface DeployOptions {
  runner: Runner;
  log?: (line: string) => void;
  rootDir?: string;
  wranglerBin?: string;
  origin?: string;
  accountId?: string;
  newSetupCode?: boolean;
}

export interface DeployResult {
  url: string | undefined;
  claimed: boolean | undefined;
  accountId: string | undefined;
  /** Names of the secrets this run generated and set. */
  secretsSet: string[];
  /** Only when this run generated it. */
  setupCode: string | undefined;
}

export interface BaseConfig {
  workerName: string;
  d1: { binding: string; databaseName: string; hasMigrations: boolean }[];
  kv: { binding: string; title: string }[];
}

export declare function parseArgs(argv: string[]): { origin?: string; accountId?: string; newSetupCode: boolean; help: boolean };
export declare function normalizeOrigin(value: string): string;
export declare function readBaseConfig(text: string): BaseConfig;
export declare function kvNamespaceTitle(workerName: string, binding: string): string;
export declare function renderDeployConfig(text: string, ids: { d1: Record<string, string>; kv: Record<string, string> }): string;
export declare function findWorkersDevUrl(output: string, workerName: string): string | undefined;
export declare function deploy(options: DeployOptions): Promise<DeployResult>;
export declare function main(
  argv: string[],
  options?: {
    runner?: Runner;
    log?: (line: string) => void;
    error?: (line: string) => void;
    rootDir?: string;
    env?: Record<string, string | undefined>;
  },
): Promise<number>;
