// Types for devServer.mjs, so the TypeScript end-to-end tests can import it.

export declare const REPO_ROOT: string;

export interface ProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  /** One letter from proc(5): R, S, D, Z, ... */
  state: string;
  comm: string;
  /** utime + stime, in clock ticks (getconf CLK_TCK). */
  cpuTicks: number;
}

export interface StartDevServerOptions {
  persistTo?: string;
  port?: number;
  vars?: Record<string, string>;
  args?: string[];
  readyTimeoutMs?: number;
  echo?: boolean;
}

export interface DevServer {
  url: string;
  origin: string;
  port: number;
  persistTo: string;
  setupCode: string;
  pgid: number;
  /** performance.now() when the process was spawned, and when it first answered. */
  spawnedAtMs: number;
  readyAtMs: number;
  output(): string;
  workerdProcesses(): ProcessInfo[];
  stop(): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export declare function findFreePort(): Promise<number>;
export declare function processesInGroup(pgid: number): ProcessInfo[];
export declare function processTree(rootPid: number): ProcessInfo[];
export declare function startDevServer(options?: StartDevServerOptions): Promise<DevServer>;

export interface StartWranglerDevOptions {
  /** The wrangler config file, relative to the repository root or absolute. */
  config: string;
  /** Polled with GET until it answers 2xx (default "/"). */
  readyPath?: string;
  port?: number;
  persistTo?: string;
  vars?: Record<string, string>;
  args?: string[];
  readyTimeoutMs?: number;
  pollMs?: number;
  echo?: boolean;
}

export type WranglerDev = Omit<DevServer, "setupCode">;

export declare function startWranglerDev(options: StartWranglerDevOptions): Promise<WranglerDev>;
