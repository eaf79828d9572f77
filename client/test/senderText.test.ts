// The inbox shows a sender's own `from` text; it must not be able to fake the app's
// labels or reorder what is around it (web/ui/text.ts).
import { describe, expect, it } from "vitest";
import { displaySender } from "../../web/ui/text";

describe("displaySender", () => {
  it("removes bidi controls, so a name cannot flip the text after it", () => {
    for (const control of ["\u202E", "\u202D", "\u2066", "\u2067", "\u2068", "\u2069", "\u200E", "\u200F", "\u061C", "\u202A", "\u202B", "\u202C"]) {
      expect(displaySender(`Mallory${control} (deifirev)`)).toBe("Mallory (deifirev)");
    }
  });

  it("removes control characters and line separators, and collapses whitespace", () => {
    expect(displaySender("Ada\u0000\u0007\u001b[31m\u0085\u009b")).toBe("Ada[31m");
    expect(displaySender("Ada\n\n(verified sender)\r\n")).toBe("Ada (verified sender)");
    expect(displaySender("Ada\u2028\u2029 Lovelace")).toBe("Ada Lovelace");
    expect(displaySender("A\u200Bd\u00ADa\uFEFF")).toBe("Ada");
  });

  it("keeps ordinary text, right-to-left scripts and emoji sequences", () => {
    expect(displaySender("acct:ada@example.net")).toBe("acct:ada@example.net");
    expect(displaySender("שלום")).toBe("שלום");
    expect(displaySender("👩‍💻 Ada")).toBe("👩‍💻 Ada");
  });

  it("cuts very long names without splitting a character", () => {
    expect(displaySender("😀".repeat(200), 5)).toBe("😀😀😀😀😀…");
    expect(displaySender(null)).toBe("");
  });
});
