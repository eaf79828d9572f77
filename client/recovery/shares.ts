/**
 * Recovery shares (docs/api.md §13): the recovery key split by Shamir's secret
 * sharing (the audited `shamir-secret-sharing` package, GF(2^8), one polynomial per
 * byte) into n shares of which any k recover it, 2 ≤ k ≤ n ≤ 10. Each share is one
 * line of text, exact and versioned (docs/recovery-format.md):
 *
 *     indienet-share-1 <host> <80 Crockford base32 characters, in groups of four>
 *
 * The 80 characters are 50 bytes: a 45-byte payload (version, k, n, index, set id,
 * key check value, the 33-byte Shamir share) and a 5-byte checksum, the first bytes of
 * SHA-256("indienet-share-1" 0x00 host 0x00 payload). Combining checks every share's
 * checksum first, then that they belong together, then that there are enough, and
 * after combining that the key matches the key check value every share carries: a
 * wrong key never comes out quietly.
 */
import { combine, split } from "shamir-secret-sharing";
import { randomBytes, sha256, utf8 } from "../../src/lib/bytes";
import { decodeBase32, encodeBase32, firstInvalidBase32Char, groups, normalizeBase32 } from "./base32";
import { RecoveryError } from "./errors";
import { KEY_CHECK_BYTES, RECOVERY_KEY_BYTES, recoveryKeyCheck } from "./recoveryKey";

export const SHARE_PREFIX = "indienet-share-1";
export const SHARE_FORMAT_VERSION = 1;
export const MAX_SHARES = 10;
export const SET_ID_BYTES = 4;
const SHAMIR_SHARE_BYTES = RECOVERY_KEY_BYTES + 1;
/** version, k, n, index, set id, key check, Shamir share. */
const PAYLOAD_BYTES = 4 + SET_ID_BYTES + KEY_CHECK_BYTES + SHAMIR_SHARE_BYTES;
/** 45 + 5 = 50 bytes = 400 bits = exactly 80 base32 characters. */
const CHECKSUM_BYTES = 5;
export const SHARE_CODE_LENGTH = ((PAYLOAD_BYTES + CHECKSUM_BYTES) * 8) / 5;

/** A host as `new URL(origin).host` gives it: lower case, an optional port. */
const HOST = /^(?=.{1,261}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/;

export interface RecoveryShare {
  host: string;
  /** The set's id, 7 base32 characters: the same on every share of one split. */
  setId: string;
  threshold: number;
  total: number;
  /** This share's number, 1…total. */
  index: number;
  /** The exact one-line text of the share: what combineShares reads back. */
  text: string;
  /** The share as a short printable page for the person who keeps it. */
  printable: string;
}

export interface ParsedShare {
  item: number;
  host: string;
  setId: Uint8Array;
  threshold: number;
  total: number;
  index: number;
  keyCheck: Uint8Array;
  shamir: Uint8Array<ArrayBuffer>;
}

function normalizeHost(host: string): string {
  const h = host.trim().toLowerCase();
  if (!HOST.test(h)) throw new RangeError(`not a host name: ${JSON.stringify(host)}`);
  return h;
}

async function checksum(host: string, payload: Uint8Array): Promise<Uint8Array> {
  const prefix = utf8(`${SHARE_PREFIX}\0${host}\0`);
  const input = new Uint8Array(prefix.length + payload.length);
  input.set(prefix);
  input.set(payload, prefix.length);
  const digest = await sha256(input);
  input.fill(0);
  return digest.slice(0, CHECKSUM_BYTES);
}

/**
 * Splits the recovery key into `total` shares, any `threshold` of which recover it.
 * `host` is the instance's host (`new URL(ORIGIN).host`), named by every share.
 */
export async function splitRecoveryKey(
  key: Uint8Array<ArrayBuffer>,
  input: { threshold: number; total: number; host: string; nowMs?: number },
): Promise<RecoveryShare[]> {
  const { threshold: k, total: n } = input;
  if (!(key instanceof Uint8Array) || key.length !== RECOVERY_KEY_BYTES) throw new RangeError("a recovery key is 32 bytes");
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 2 || n < k || n > MAX_SHARES) {
    throw new RangeError(`shares need 2 ≤ threshold ≤ total ≤ ${MAX_SHARES}`);
  }
  const host = normalizeHost(input.host);
  const setId = randomBytes(SET_ID_BYTES);
  const keyCheck = await recoveryKeyCheck(key);
  // The package checks `constructor === Uint8Array`: hand it a plain copy.
  const shamirShares = await split(Uint8Array.from(key), n, k);
  const createdOn = new Date(input.nowMs ?? Date.now()).toISOString().slice(0, 10);
  const setIdText = encodeBase32(setId);
  const shares: RecoveryShare[] = [];
  for (let i = 0; i < n; i++) {
    const bytes = new Uint8Array(PAYLOAD_BYTES + CHECKSUM_BYTES);
    bytes.set([SHARE_FORMAT_VERSION, k, n, i + 1]);
    bytes.set(setId, 4);
    bytes.set(keyCheck, 4 + SET_ID_BYTES);
    bytes.set(shamirShares[i]!, 4 + SET_ID_BYTES + KEY_CHECK_BYTES);
    bytes.set(await checksum(host, bytes.subarray(0, PAYLOAD_BYTES)), PAYLOAD_BYTES);
    const code = groups(encodeBase32(bytes));
    bytes.fill(0);
    shamirShares[i]!.fill(0);
    const text = `${SHARE_PREFIX} ${host} ${code}`;
    const codeGroups = code.split("-");
    const rows: string[] = [];
    for (let g = 0; g < codeGroups.length; g += 5) rows.push("    " + codeGroups.slice(g, g + 5).join("-"));
    const printable = [
      `Indienet recovery share ${i + 1} of ${n} for ${host}`,
      `Set ${setIdText}, made on ${createdOn}. Any ${k} of the ${n} shares of this set recover the owner's keys;`,
      `fewer reveal nothing. Keep it private, and give it back only to the owner of ${host}.`,
      "",
      `    ${SHARE_PREFIX} ${host}`,
      ...rows,
    ].join("\n");
    shares.push({ host, setId: setIdText, threshold: k, total: n, index: i + 1, text, printable });
  }
  return shares;
}

/**
 * The shares in what a person typed or pasted, as printed (`printable`): each starts at
 * a line beginning "indienet-share-" and runs on over the lines of code groups below
 * it. The sheet's other lines (its heading and notes) are skipped. Code lines before
 * any first line make a share of their own, so that parseShare says what is missing.
 * One share per line, as before, still reads the same.
 */
export function splitShares(input: string): string[] {
  const shares: string[][] = [];
  for (const line of input.split(/\r?\n/).map((l) => l.trim())) {
    const first = /^indienet-share-/i.test(line);
    // Code groups: four letters or digits each, between dashes or spaces.
    const codes = !first && /^[0-9a-z]{4}([\s-]+[0-9a-z]{1,4})*$/i.test(line);
    if (first || (codes && shares.length === 0)) shares.push([line]);
    else if (codes) shares.at(-1)!.push(line);
  }
  return shares.map((lines) => lines.join(" "));
}

/** Reads one share's text, checksum first. `item` is its 1-based position, for the error messages. */
export async function parseShare(text: string, item = 1): Promise<ParsedShare> {
  const where = `Share ${item}`;
  const tokens = text.trim().split(/\s+/);
  const prefix = (tokens[0] ?? "").toLowerCase();
  if (prefix !== SHARE_PREFIX) {
    if (/^indienet-share-\d+$/.test(prefix)) {
      throw new RecoveryError("unsupported_version", `${where} is in a newer format (${prefix}) than this app reads.`, { item });
    }
    throw new RecoveryError("malformed", `${where} does not start with "${SHARE_PREFIX}": copy the whole share, first line included.`, {
      item,
    });
  }
  let host: string;
  try {
    host = normalizeHost(tokens[1] ?? "");
  } catch {
    throw new RecoveryError("malformed", `${where} does not name its instance's host after "${SHARE_PREFIX}".`, { item });
  }
  const code = normalizeBase32(tokens.slice(2).join(""));
  const bad = firstInvalidBase32Char(code);
  if (bad !== undefined) throw new RecoveryError("checksum", `${where} has a typo: "${bad}" never occurs in shares.`, { item });
  if (code.length !== SHARE_CODE_LENGTH) {
    throw new RecoveryError(
      "malformed",
      `${where} has ${code.length} letters and digits after the host; a share has ${SHARE_CODE_LENGTH}. Check for a missing or extra group.`,
      { item },
    );
  }
  const bytes = decodeBase32(code, PAYLOAD_BYTES + CHECKSUM_BYTES);
  const payload = bytes?.subarray(0, PAYLOAD_BYTES);
  const expected = payload ? await checksum(host, payload) : null;
  if (!bytes || !payload || !expected || !expected.every((b, i) => b === bytes[PAYLOAD_BYTES + i])) {
    bytes?.fill(0);
    throw new RecoveryError("checksum", `${where} is damaged: a character (or its host) was mistyped. Compare it with the original.`, {
      item,
    });
  }
  const [version, k, n, index] = payload;
  if (version !== SHARE_FORMAT_VERSION) {
    throw new RecoveryError("unsupported_version", `${where} is in a share format (${version}) this app does not read.`, { item });
  }
  if (k! < 2 || n! < k! || n! > MAX_SHARES || index! < 1 || index! > n! || payload[PAYLOAD_BYTES - 1] === 0) {
    throw new RecoveryError("malformed", `${where} checks out but describes an impossible set (${k} of ${n}, number ${index}).`, { item });
  }
  const shamir = payload.slice(4 + SET_ID_BYTES + KEY_CHECK_BYTES);
  const parsed: ParsedShare = {
    item,
    host,
    setId: payload.slice(4, 4 + SET_ID_BYTES),
    threshold: k!,
    total: n!,
    index: index!,
    keyCheck: payload.slice(4 + SET_ID_BYTES, 4 + SET_ID_BYTES + KEY_CHECK_BYTES),
    shamir,
  };
  bytes.fill(0);
  return parsed;
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Recovers the recovery key from shares (their texts, in any order). Errors, in the
 * order checked: a share's own checksum (`checksum`, `malformed`,
 * `unsupported_version`, with `item`), shares of another set, host or k-of-n
 * (`different_sets`), the same share twice (`duplicate_share`), fewer than k
 * (`too_few_shares`), and a combination that does not give the key the shares vouch
 * for (`combine_failed`). With `host`, shares naming another instance are refused too.
 */
export async function combineShares(texts: readonly string[], options: { host?: string } = {}): Promise<Uint8Array<ArrayBuffer>> {
  const nonEmpty = texts.filter((t) => t.trim() !== "");
  if (nonEmpty.length === 0) throw new RecoveryError("too_few_shares", "Enter the shares you were given.");
  const shares: ParsedShare[] = [];
  for (const [i, text] of nonEmpty.entries()) shares.push(await parseShare(text, i + 1));

  const first = shares[0]!;
  if (options.host !== undefined && first.host !== normalizeHost(options.host)) {
    throw new RecoveryError("different_sets", `These shares are for ${first.host}, not ${normalizeHost(options.host)}.`, { item: 1 });
  }
  for (const s of shares.slice(1)) {
    if (s.host !== first.host || !sameBytes(s.setId, first.setId) || s.threshold !== first.threshold || s.total !== first.total) {
      throw new RecoveryError(
        "different_sets",
        s.host !== first.host
          ? `Share ${s.item} is for ${s.host}, share 1 for ${first.host}: they cannot be combined.`
          : `Share ${s.item} belongs to another set of shares than share 1 (each split makes a new set; shares of two sets never combine).`,
        { item: s.item, shareIndex: s.index },
      );
    }
  }
  for (const [i, s] of shares.entries()) {
    const twin = shares.slice(0, i).find((t) => t.index === s.index || t.shamir[RECOVERY_KEY_BYTES] === s.shamir[RECOVERY_KEY_BYTES]);
    if (twin) {
      throw new RecoveryError("duplicate_share", `Shares ${twin.item} and ${s.item} are the same share (number ${s.index}): each counts once.`, {
        item: s.item,
        shareIndex: s.index,
      });
    }
  }
  if (shares.length < first.threshold) {
    throw new RecoveryError(
      "too_few_shares",
      `This set needs ${first.threshold} of its ${first.total} shares; ${shares.length === 1 ? "1 was" : `${shares.length} were`} given.`,
    );
  }

  const key = await combine(shares.map((s) => s.shamir));
  for (const s of shares) s.shamir.fill(0);
  const check = await recoveryKeyCheck(key as Uint8Array<ArrayBuffer>);
  if (!sameBytes(check, first.keyCheck)) {
    key.fill(0);
    throw new RecoveryError(
      "combine_failed",
      "These shares check out one by one but do not combine into the key they belong to: one of them was altered. Try another combination.",
    );
  }
  return key as Uint8Array<ArrayBuffer>;
}
