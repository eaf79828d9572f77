/**
 * The JSON bodies of the form endpoints (docs/api.md §14, IndieAuth LS §5.3.2–5.3.4,
 * §6.2, §9, RFC 7662), pure. Shapes are in schemas/oauth.ts; these decide
 * what goes in them.
 */
import { formatScope, includesProfile } from "./scopes";

/** What the owner chose to share (GET/PUT /api/profile); `url` is always `me`. */
export interface OwnerProfile {
  name: string;
  photo?: string;
}

export interface ProfileInfo {
  name: string;
  url: string;
  photo?: string;
}

/** LS §5.3.4: `profile` only when the `profile` scope was granted and there is a profile to give. */
export function profileFor(scopes: readonly string[], me: string, owner: OwnerProfile | null): ProfileInfo | undefined {
  if (!includesProfile(scopes) || !owner) return undefined;
  // No photo is `photo: undefined`, which JSON leaves out (every caller answers with c.json).
  return { name: owner.name, url: me, photo: owner.photo };
}

/** POST /indieauth/authorize (LS §5.3.2): the profile URL, never a token. */
export function profileUrlResponse(me: string, scopes: readonly string[], owner: OwnerProfile | null): { me: string; profile?: ProfileInfo } {
  const profile = profileFor(scopes, me, owner);
  return { me, profile };
}

/** POST /indieauth/token (LS §5.3.3, RFC 6749 §5.1). */
export function tokenResponse(input: {
  accessToken: string;
  refreshToken: string;
  scopes: readonly string[];
  me: string;
  expiresInS: number;
  owner: OwnerProfile | null;
}) {
  const profile = profileFor(input.scopes, input.me, input.owner);
  return {
    access_token: input.accessToken,
    token_type: "Bearer" as const,
    scope: formatScope(input.scopes),
    me: input.me,
    expires_in: input.expiresInS,
    refresh_token: input.refreshToken,
    profile,
  };
}

/**
 * RFC 7662 §2.2 with LS §6.2's `me`. An inactive token says nothing else, not even
 * why (RFC 7662 §2.2: "SHOULD NOT include any additional information").
 */
export function introspectionResponse(
  active: { me: string; clientId: string; scopes: readonly string[]; issuedAtMs: number; expiresAtMs: number } | null,
) {
  if (!active) return { active: false as const };
  return {
    active: true as const,
    me: active.me,
    client_id: active.clientId,
    scope: formatScope(active.scopes),
    // §14: seconds. A token's expiry rounds down, so a client never believes it lives longer than it does.
    exp: Math.floor(active.expiresAtMs / 1000),
    iat: Math.floor(active.issuedAtMs / 1000),
  };
}
