/**
 * The owner's profile (table `indieauth_profile`, one row): what the IndieAuth
 * `profile` scope shares (docs/api.md §14), set with PUT /api/profile. The routes
 * fall back to the handle alone while none is set (docs/indieauth.md).
 */
import type { OwnerProfile } from "../domain/indieauth/responses";

export class IndieAuthProfileStore {
  constructor(private readonly sql: SqlStorage) {}

  /** What the owner set, or null. */
  get(): OwnerProfile | null {
    const row = this.sql.exec<{ name: string; photo: string | null }>("SELECT name, photo FROM indieauth_profile WHERE id = 1").toArray()[0];
    if (!row) return null;
    return row.photo === null ? { name: row.name } : { name: row.name, photo: row.photo };
  }

  /** Sets or replaces it (one upsert). */
  set(profile: OwnerProfile, nowMs: number): void {
    this.sql.exec(
      "INSERT INTO indieauth_profile (id, name, photo, updated_at_ms) VALUES (1, ?, ?, ?) " +
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, photo = excluded.photo, updated_at_ms = excluded.updated_at_ms",
      profile.name,
      profile.photo ?? null,
      nowMs,
    );
  }
}
