import { describe, expect, it } from "vitest";
import {
  dueSocketAction,
  earliestDeadlineMs,
  readSocketOffer,
  socketDeadlineMs,
  socketExpired,
  TOKEN_EXPIRY_WARNING_MS,
} from "../../src/domain/liveChannel";

describe("readSocketOffer", () => {
  it("reads indie.v1 and the bearer token from Sec-WebSocket-Protocol", () => {
    expect(readSocketOffer("indie.v1, bearer.aaa.bbb.ccc")).toEqual({ speaksProtocol: true, accessToken: "aaa.bbb.ccc" });
    expect(readSocketOffer("bearer.t_-1,indie.v1")).toEqual({ speaksProtocol: true, accessToken: "t_-1" });
  });

  it("finds no token when it is absent, empty, repeated or not token characters", () => {
    expect(readSocketOffer("indie.v1")).toEqual({ speaksProtocol: true, accessToken: null });
    expect(readSocketOffer(undefined)).toEqual({ speaksProtocol: false, accessToken: null });
    expect(readSocketOffer("indie.v1, bearer.")).toMatchObject({ accessToken: null });
    expect(readSocketOffer("indie.v1, bearer.a, bearer.b")).toMatchObject({ accessToken: null });
    expect(readSocketOffer("indie.v1, bearer.a b")).toMatchObject({ accessToken: null });
  });

  it("does not take indie.v2 or a prefix for indie.v1", () => {
    expect(readSocketOffer("indie.v2, bearer.x").speaksProtocol).toBe(false);
    expect(readSocketOffer("indie.v1x, bearer.x").speaksProtocol).toBe(false);
  });
});

describe("socket deadlines", () => {
  const expiresAtMs = 1_000_000;
  const warnAt = expiresAtMs - TOKEN_EXPIRY_WARNING_MS;

  it("warns 60 s before expiry, once, then expires at expiry", () => {
    expect(TOKEN_EXPIRY_WARNING_MS).toBe(60_000);
    expect(socketDeadlineMs({ expiresAtMs, warned: false })).toBe(warnAt);
    expect(socketDeadlineMs({ expiresAtMs, warned: true })).toBe(expiresAtMs);
    expect(dueSocketAction({ expiresAtMs, warned: false }, warnAt - 1)).toBeNull();
    expect(dueSocketAction({ expiresAtMs, warned: false }, warnAt)).toBe("warn");
    expect(dueSocketAction({ expiresAtMs, warned: true }, warnAt + 1)).toBeNull();
    expect(dueSocketAction({ expiresAtMs, warned: true }, expiresAtMs)).toBe("expire");
  });

  it("counts a socket as expired from its expiry on, the instant included", () => {
    expect(socketExpired({ expiresAtMs }, expiresAtMs - 1)).toBe(false);
    expect(socketExpired({ expiresAtMs }, expiresAtMs)).toBe(true);
    expect(socketExpired({ expiresAtMs }, expiresAtMs + 60_000)).toBe(true);
  });

  it("expires rather than warns when the alarm comes late", () => {
    expect(dueSocketAction({ expiresAtMs, warned: false }, expiresAtMs + 5)).toBe("expire");
  });

  it("picks the earliest deadline, or null without sockets", () => {
    expect(earliestDeadlineMs([])).toBeNull();
    expect(
      earliestDeadlineMs([
        { expiresAtMs: 500_000, warned: true },
        { expiresAtMs: 520_000, warned: false },
        { expiresAtMs: 900_000, warned: false },
      ]),
    ).toBe(460_000);
  });
});
