/**
 * What an inbox delivery asks of us (docs/api.md §11), pure: the signature has
 * been verified by the caller, who passes the key's owner as `signer`.
 *
 * - A `Create` of an object with `mediaType: "application/jose"` is an
 *   EncryptedMessage: its `content` is a compact JWE sealed to the owner, stored
 *   as is (checked like docs/api.md §9).
 * - A `Create` of a direct `Note` (addressed to this actor, not to the public) is
 *   a plaintext private message: the caller seals it to the owner before storing.
 * - Anything else (a public post, Follow, Delete, Like…) is verified and
 *   acknowledged, and nothing is stored: the owner has no timeline.
 */

export const JOSE_MEDIA_TYPE = "application/jose";
const PUBLIC_AUDIENCE = new Set(["https://www.w3.org/ns/activitystreams#Public", "as:Public", "Public"]);

export type InboxAction =
  /** `activityId`: the activity's `id`, when it has one (replay protection remembers it). */
  | { kind: "encrypted"; jwe: string; activityId: string | null }
  | { kind: "note"; note: SealedNote; activityId: string | null }
  | { kind: "ignored"; reason: string }
  | { kind: "invalid"; message: string }
  | { kind: "wrong_actor" };

/** What the owner's client finds inside the JWE made from a plaintext Note. */
export interface SealedNote {
  type: "Note";
  /** The verified sender actor. */
  from: string;
  id?: string;
  content: string;
  summary?: string;
  published?: string;
  inReplyTo?: string;
  url?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const idOf = (v: unknown): string | null => (typeof v === "string" ? v : isObject(v) && typeof v.id === "string" ? v.id : null);
const list = (v: unknown): unknown[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);
const typesOf = (v: unknown): string[] => list(v).filter((t): t is string => typeof t === "string");
const optionalString = (v: unknown) => (typeof v === "string" ? v : undefined);

export function classifyInboxActivity(activity: unknown, signer: string, selfActor: string): InboxAction {
  if (!isObject(activity)) return { kind: "invalid", message: "The body must be a JSON ActivityStreams object." };
  const types = typesOf(activity.type);
  if (types.length === 0) return { kind: "invalid", message: "The activity must have a type." };
  const actor = idOf(activity.actor);
  if (!actor) return { kind: "invalid", message: "The activity must name its actor." };
  // The signature proves who sent the request; the activity must not claim another
  // author (Mastodon checks the same), or anyone could relay words as someone else.
  if (actor !== signer) return { kind: "wrong_actor" };
  if (!types.includes("Create")) return { kind: "ignored", reason: `activity ${types.join(",")}` };

  const object = activity.object;
  if (!isObject(object)) return { kind: "invalid", message: "A Create must embed its object." };
  const attributedTo = object.attributedTo === undefined ? actor : idOf(object.attributedTo);
  if (attributedTo !== actor) return { kind: "wrong_actor" };

  if (object.mediaType === JOSE_MEDIA_TYPE) {
    if (typeof object.content !== "string" || object.content === "") {
      return { kind: "invalid", message: 'An EncryptedMessage carries its compact JWE as "content".' };
    }
    return { kind: "encrypted", jwe: object.content, activityId: optionalString(activity.id) ?? null };
  }

  if (!typesOf(object.type).includes("Note")) return { kind: "ignored", reason: `object ${typesOf(object.type).join(",")}` };
  const audience = [...list(activity.to), ...list(activity.cc), ...list(object.to), ...list(object.cc), ...list(object.bto), ...list(object.bcc)]
    .map(idOf)
    .filter((a): a is string => a !== null);
  if (audience.some((a) => PUBLIC_AUDIENCE.has(a))) return { kind: "ignored", reason: "public note" };
  if (!audience.includes(selfActor)) return { kind: "ignored", reason: "note not addressed to the owner" };
  if (typeof object.content !== "string") return { kind: "invalid", message: 'A Note must carry its text as "content".' };

  const note: SealedNote = { type: "Note", from: actor, content: object.content };
  for (const key of ["id", "summary", "published", "inReplyTo", "url"] as const) {
    const v = key === "inReplyTo" || key === "url" ? idOf(object[key]) ?? undefined : optionalString(object[key]);
    if (v !== undefined) note[key] = v;
  }
  return { kind: "note", note, activityId: optionalString(activity.id) ?? null };
}
