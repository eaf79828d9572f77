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

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * Is `hostname` (as the URL parser normalised it) an IP literal? WHATWG URL parsing
 * turns every IPv4 spelling (`0x7f.1`, `2130706433`, `127.1`) into dotted decimal
 * and keeps IPv6 in brackets, so these two shapes are all there is.
 */
export function isIpLiteral(hostname: string): boolean {
  return hostname.startsWith("[") || IPV4.test(hostname);
}
