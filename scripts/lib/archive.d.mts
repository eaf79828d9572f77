// Types for archive.mjs, so the TypeScript tests can import it.

export declare const ARCHIVE_FORMAT: string;
export declare const ARCHIVE_VERSION: number;
export declare const RESTORE_BODY_BYTES: number;
export declare function canonicalJson(value: unknown): string;
export declare function archiveDigest(archive: Record<string, unknown>): Promise<string>;
export declare function verifyArchiveText(text: string): Promise<Record<string, unknown> & { digest: string }>;
