/**
 * docs/api.md §10: GET /api/ws opens the live channel. The Worker authenticates the
 * upgrade itself (requireBearer is skipped for this path: a browser cannot send an
 * Authorization header on a WebSocket) and only then hands it to the instance's
 * Durable Object, which holds the socket. Every refusal happens before the upgrade,
 * as a plain HTTP error.
 */
import { Hono } from "hono/tiny";
import { readSocketOffer } from "../domain/liveChannel";
import { socketUpgradeRequest } from "../durable/sockets";
import { instanceStub } from "../durable/stub";
import { ApiError } from "../errors";
import { authenticateAccessToken } from "../http/auth";
import { sessionEnded } from "../instanceErrors";
import { refuseForeignOrigin } from "../http/middleware";
import type { AppEnv } from "../http/types";
import { SOCKET_PROTOCOL } from "../schemas/messages";

/** Mounted at /api. */
export const liveRoutes = new Hono<AppEnv>();

liveRoutes.get("/ws", async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new ApiError("invalid_request", "GET /api/ws is a WebSocket endpoint (Upgrade: websocket).");
  }
  // checkOrigin only looks at state-changing methods, and an upgrade is a GET; but a
  // socket is a standing channel to the owner's messages, so a foreign page may not
  // open one even with a token it somehow holds.
  refuseForeignOrigin(c, "Cross-origin WebSocket connections are not allowed.");
  const pageOrigin = c.req.header("origin");
  const offer = readSocketOffer(c.req.header("sec-websocket-protocol"));
  if (!offer.speaksProtocol) {
    throw new ApiError("invalid_request", `Offer the subprotocol ${SOCKET_PROTOCOL} (Sec-WebSocket-Protocol).`);
  }
  if (!offer.accessToken) {
    throw new ApiError("unauthorized", "An access token is required (Sec-WebSocket-Protocol: indie.v1, bearer.<token>).", {
      headers: { "WWW-Authenticate": "Bearer" },
    });
  }
  const claims = await authenticateAccessToken(c, offer.accessToken);

  const upgraded = await instanceStub(c.env).fetch(
    socketUpgradeRequest({
      sessionId: claims.sid,
      expiresAtMs: claims.expS * 1000,
      issuer: c.get("origin"),
      origin: pageOrigin ?? null,
      lifetimes: c.get("settings").sessionPolicy,
    }),
  );
  if (upgraded.status !== 101 || !upgraded.webSocket) {
    // The object re-checks the session at accept time: it was revoked in between.
    throw sessionEnded({ reason: `socket accept answered ${upgraded.status}` });
  }
  // A fresh response: the object's has immutable headers, and the middleware adds
  // its security headers on the way out.
  return new Response(null, {
    status: 101,
    webSocket: upgraded.webSocket,
    headers: { "Sec-WebSocket-Protocol": SOCKET_PROTOCOL },
  });
});
