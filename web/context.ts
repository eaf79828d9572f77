import type { OwnerClient } from "../client/owner";
import type { PasswordChecker } from "../client/password";

/** What every screen gets: the SDK client and a way to move on. */
export interface AppContext {
  client: OwnerClient;
  /** Checks new passwords; its word lists load on first use (web/passwordChecker.ts). */
  passwordChecker: PasswordChecker;
  /** Re-decides which screen to show (after claim, unlock, login, logout). */
  restart(notice?: string): void;
  /** Shows a logged-in screen by its route name. */
  go(route: string): void;
  /** Shows a screen in place of the current one (the recovery flow from the login screen). */
  show(screen: Screen): void;
  /** A recovery was requested (live frame or GET /api/recovery): shows the banner. */
  recoveryRequested(readyAt: number): void;
  /** Whether two-factor authentication is on (cached; refreshed by the 2FA screen). */
  twoFactorOn: boolean;
}

/** A screen: its content, and what to do when it goes away. */
export interface Screen {
  node: HTMLElement;
  dispose?: () => void;
}

export function defaultDeviceName(): string {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrom(e|ium)\//.test(ua) ? "Chromium" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac OS X/.test(ua) ? "macOS" : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "";
  return os ? `${browser} on ${os}` : browser;
}
