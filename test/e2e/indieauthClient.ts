/**
 * An IndieAuth client for the end-to-end and browser tests (docs/api.md §14): a
 * node:http server on 127.0.0.1 (plain http on loopback is allowed under
 * ALLOW_INSECURE_FEDERATION) that serves its client metadata document at `/` (JSON,
 * `client_id` = its own URL) and a redirect page at `/callback`, which records every
 * query it receives. The OAuth side is oauth4webapi, as a real client would use it.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as oauth from "oauth4webapi";

export interface ClientApp {
  clientId: string;
  redirectUri: string;
  name: string;
  /** Every query the redirect page received, oldest first. */
  callbacks: URL[];
  /** How often the metadata document was fetched. */
  metadataFetches(): number;
  close(): Promise<void>;
}

export async function startClientApp(options: { name?: string; logo?: string } = {}): Promise<ClientApp> {
  const name = options.name ?? "Loopback Test App";
  const callbacks: URL[] = [];
  let fetches = 0;
  let origin = "";
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", origin);
    if (req.method === "GET" && url.pathname === "/") {
      fetches++;
      const metadata = {
        client_id: `${origin}/`,
        client_name: name,
        client_uri: `${origin}/`,
        redirect_uris: [`${origin}/callback`],
        ...(options.logo ? { logo_uri: options.logo } : {}),
      };
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(metadata));
      return;
    }
    if (req.method === "GET" && url.pathname === "/callback") {
      callbacks.push(url);
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end("<!doctype html><title>Back at the app</title><h1>Back at the app</h1>");
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    clientId: `${origin}/`,
    redirectUri: `${origin}/callback`,
    name,
    callbacks,
    metadataFetches: () => fetches,
    close: () => new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve()))),
  };
}

/** oauth4webapi refuses plain http unless told: the instance and the client are both on loopback. */
export const INSECURE = { [oauth.allowInsecureRequests]: true } as const;

/** The targets of `rel` in a Link header (RFC 8288), resolved against `base`. */
export function linkTargets(header: string | null, rel: string, base: string): string[] {
  if (!header) return [];
  const targets: string[] = [];
  for (const m of header.matchAll(/<([^>]*)>((?:\s*;\s*[^;,]+)*)/g)) {
    const params = m[2]!;
    const relValue = params.match(/;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i);
    const rels = (relValue?.[1] ?? relValue?.[2] ?? "").toLowerCase().split(/\s+/);
    if (rels.includes(rel)) targets.push(new URL(m[1]!, base).href);
  }
  return targets;
}

/**
 * IndieAuth discovery (LS §4.1): the profile URL's `Link: rel="indieauth-metadata"`,
 * then the metadata, whose issuer must be the profile URL (RFC 8414 §3.3 via
 * oauth4webapi's processDiscoveryResponse).
 */
export async function discover(me: string): Promise<{ as: oauth.AuthorizationServer; metadataUrl: string }> {
  const profile = await fetch(me, { redirect: "manual" });
  await profile.body?.cancel();
  const [metadataUrl] = linkTargets(profile.headers.get("link"), "indieauth-metadata", me);
  if (!metadataUrl) throw new Error(`no rel="indieauth-metadata" Link on ${me}: ${profile.headers.get("link")}`);
  const as = await oauth.processDiscoveryResponse(new URL(me), await fetch(metadataUrl, { headers: { accept: "application/json" } }));
  return { as, metadataUrl };
}

/** One authorization request, as a client starts it: PKCE S256 and a fresh state. */
export async function authorizationUrl(
  as: oauth.AuthorizationServer,
  app: Pick<ClientApp, "clientId" | "redirectUri">,
  input: { scope?: string; me?: string } = {},
): Promise<{ url: URL; verifier: string; state: string }> {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = new URL(as.authorization_endpoint!);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", app.clientId);
  url.searchParams.set("redirect_uri", app.redirectUri);
  url.searchParams.set("state", state);
  url.searchParams.set("code_challenge", await oauth.calculatePKCECodeChallenge(verifier));
  url.searchParams.set("code_challenge_method", "S256");
  if (input.scope !== undefined) url.searchParams.set("scope", input.scope);
  if (input.me !== undefined) url.searchParams.set("me", input.me);
  return { url, verifier, state };
}

/** validateAuthResponse (state and RFC 9207 `iss`), then the code exchange with the verifier. */
export async function exchangeCode(
  as: oauth.AuthorizationServer,
  app: Pick<ClientApp, "clientId" | "redirectUri">,
  redirect: URL,
  flow: { verifier: string; state: string },
) {
  const client: oauth.Client = { client_id: app.clientId };
  const params = oauth.validateAuthResponse(as, client, redirect, flow.state);
  const res = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, app.redirectUri, flow.verifier, INSECURE);
  return oauth.processAuthorizationCodeResponse(as, client, res);
}
