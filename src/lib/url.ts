/**
 * `new URL(raw, base)`, or null where the URL parser refuses it (what the WHATWG
 * `URL.parse` does; the Workers types do not declare it yet).
 */
export function parseUrl(raw: string, base?: string): URL | null {
  try {
    return new URL(raw, base);
  } catch {
    return null;
  }
}
