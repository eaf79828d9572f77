// Types for archiveDigest.mjs (plain JavaScript so the Node scripts can run it too).
import type { Archive, ArchiveHeader } from "../schemas/archive";

export type ArchiveSection = "archive" | "key" | "escrow" | "message" | "activity";

export declare function canonicalJson(value: unknown): string;
export declare function archiveRecord(section: ArchiveSection, value: unknown): string;
export declare function archiveHeader(archive: ArchiveHeader): ArchiveHeader;
export declare class ArchiveDigester {
  add(section: ArchiveSection, value: unknown): Promise<void>;
  digest(): Promise<string>;
}
export declare function archiveDigest(archive: Omit<Archive, "digest">): Promise<string>;
