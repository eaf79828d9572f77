/**
 * The owner's private messages (docs/api.md §9), ciphertext only, in the object's
 * SQLite (table `messages`, schema v9). Ids come from AUTOINCREMENT, and the object
 * runs one transaction at a time: a message's id is larger than every id committed
 * before it and is never reused after a delete. Reading "everything after id N in
 * id order" therefore never skips a committed message, which is what both catch-up
 * (`after=`) and the live push (./livePush.ts) rely on.
 *
 * Methods open no transaction of their own: the object's RPC calls them inside the
 * one that also counts the rate-limit hit (InstanceDO.acceptMessage).
 */
import { MESSAGE_QUOTA_DEFAULTS, type MessageQuota } from "../schemas/messageLimits";
import type { ArchiveMessage } from "../schemas/archive";
import type { Message } from "../schemas/messageResponses";
import { EXPORT_PAGE_BYTES, EXPORT_PAGE_ROWS, exportPageSql } from "../storage/archiveStore";

/** A checked message to store (services/messages.ts `checkMessage` makes it). */
export type MessageInsert = { kid: string; jwe: string; from: string | null; verified: boolean; receivedAtMs: number; quota?: MessageQuota };

export type MessageUsage = Record<"unverified" | "verified", { count: number; bytes: number }>;

/** A page of messages and the cursor of the next one (null at the end). */
export interface MessagePage {
  messages: Message[];
  next: number | null;
}

interface MessageRow extends Record<string, SqlStorageValue> {
  id: number;
  received_at_ms: number;
  sender: string | null;
  jwe: string;
  verified: number;
}

const COLUMNS = "id, received_at_ms, sender, jwe, verified";
/**
 * What a message counts against its kind's byte quota: its JWE (ASCII) and its
 * `from` as the export writes it (JSON-quoted, UTF-8 bytes; `null` for none), so the
 * quota bounds the export too. The quota index (schema v10) holds this expression.
 */
const sizeOf = (jwe: string, sender: string) => `length(${jwe}) + length(CAST(json_quote(${sender}) AS BLOB))`;
const MESSAGE_SIZE = sizeOf("jwe", "sender");

function toMessage(row: MessageRow): Message {
  return { id: row.id, receivedAt: row.received_at_ms, from: row.sender, jwe: row.jwe, verified: row.verified === 1 };
}

export class MessageStore {
  constructor(private readonly sql: SqlStorage) {}

  /**
   * Stores the message if the messages of its kind (verified or not) are under its
   * quota (MESSAGE_QUOTA_DEFAULTS when it names none): the check and the write are
   * one statement. Null (nothing stored) when the mailbox is full. The caller has
   * checked the kid against the owner's current key under the keys' epoch.
   */
  insert(input: MessageInsert): Message | null {
    const quota = input.quota ?? MESSAGE_QUOTA_DEFAULTS;
    const row = this.sql
      .exec<MessageRow>(
        "INSERT INTO messages (received_at_ms, sender, jwe, verified) SELECT ?1, ?2, ?3, ?4 WHERE (" +
          `SELECT COUNT(*) < ?5 AND COALESCE(SUM(${MESSAGE_SIZE}), 0) + ${sizeOf("?3", "?2")} <= ?6 ` +
          "FROM messages WHERE verified = ?4" +
          `) RETURNING ${COLUMNS}`,
        input.receivedAtMs,
        input.from,
        input.jwe,
        input.verified ? 1 : 0,
        quota.count,
        quota.bytes,
      )
      .toArray()[0];
    return row ? toMessage(row) : null;
  }

  /** How many messages of each kind are stored, and what they count against the byte quota (MESSAGE_SIZE). */
  usage(): MessageUsage {
    const usage = { unverified: { count: 0, bytes: 0 }, verified: { count: 0, bytes: 0 } };
    const rows = this.sql.exec<{ verified: number; count: number; bytes: number }>(
      `SELECT verified, COUNT(*) AS count, COALESCE(SUM(${MESSAGE_SIZE}), 0) AS bytes FROM messages GROUP BY verified`,
    );
    for (const r of rows) usage[r.verified === 1 ? "verified" : "unverified"] = { count: r.count, bytes: r.bytes };
    return usage;
  }

  /**
   * One page: oldest first after `after` (GET /api/messages, the live push), or newest
   * first before `before`. One row more than asked tells whether another page exists.
   */
  page(query: { after?: number; before?: number }, limit: number): MessagePage {
    const newestFirst = query.before !== undefined;
    const rows = this.sql
      .exec<MessageRow>(
        `SELECT ${COLUMNS} FROM messages WHERE id ${newestFirst ? "< ? ORDER BY id DESC" : "> ? ORDER BY id"} LIMIT ?`,
        newestFirst ? query.before : (query.after ?? 0),
        limit + 1,
      )
      .toArray()
      .map(toMessage);
    const messages = rows.slice(0, limit);
    return { messages, next: rows.length > limit ? messages.at(-1)!.id : null };
  }

  /** False if there was no such message. */
  delete(id: number): boolean {
    return this.sql.exec("DELETE FROM messages WHERE id = ?", id).rowsWritten > 0;
  }

  /**
   * The highest id ever handed out (a deleted newest message included), so that an
   * export's `lastMessageId` keeps a restored instance from reusing one.
   */
  lastId(): number {
    // AUTOINCREMENT keeps its high-water mark there, never below the largest id.
    return this.sql.exec<{ seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").toArray()[0]?.seq ?? 0;
  }

  /**
   * For the export: messages after `afterId` up to `lastId`, at most EXPORT_PAGE_ROWS
   * of them and EXPORT_PAGE_BYTES of JWEs (always at least one, however large).
   */
  exportPage(afterId: number, lastId: number): ArchiveMessage[] {
    const sql = exportPageSql({ table: "messages", key: "id", columns: COLUMNS, sizeColumn: "jwe" });
    return this.sql.exec<MessageRow>(sql, afterId, lastId, EXPORT_PAGE_ROWS, EXPORT_PAGE_BYTES).toArray().map(toMessage);
  }

  /**
   * Inside a transaction: messages with their own ids (a restore's, or the ones
   * moved from D1), and AUTOINCREMENT moved to at least `throughId`, so that no id
   * up to it is handed out again (a placeholder row, inserted and deleted: the same
   * trick whatever SQLite allows on sqlite_sequence).
   */
  importRows(rows: ArchiveMessage[], throughId: number): void {
    for (const m of rows) {
      this.sql.exec(
        "INSERT INTO messages (id, received_at_ms, sender, jwe, verified) VALUES (?, ?, ?, ?, ?)",
        m.id,
        m.receivedAt,
        m.from,
        m.jwe,
        m.verified ? 1 : 0,
      );
    }
    if (throughId > this.lastId()) {
      this.sql.exec("INSERT INTO messages (id, received_at_ms, sender, jwe, verified) VALUES (?, 0, NULL, '', 0)", throughId);
      this.sql.exec("DELETE FROM messages WHERE id = ?", throughId);
    }
  }

  /** Inside a transaction: removes messages with ids up to `throughId` (a restore undone). */
  deleteThrough(throughId: number): void {
    this.sql.exec("DELETE FROM messages WHERE id <= ?", throughId);
  }
}
