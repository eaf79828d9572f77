// The benchmark's floor (scripts/bench.mjs): a Worker that does nothing. Served by
// the same `wrangler dev` harness as the instance and measured in the same run, it
// shows what any request costs on this machine before the server does any work:
// the client, wrangler's proxy, workerd's HTTP handling and the loopback round trip.
// Two configs serve it: floor.wrangler.toml (the bare floor, issue #10's) and
// floor-assets.wrangler.toml (the same, deployed like the instance: behind `[assets]`
// with `run_worker_first`).
//
// Two more paths are platform probes: what the instance's Durable Object costs
// before any of our code runs in it (locally the object runs in the same workerd
// process, so its CPU is counted with the Worker's).
//   GET /          nothing: the floor
//   GET /do-call   one RPC to the object, whose method returns a constant
//   GET /do-write  one RPC whose method runs one transactionSync with one counter
//                  upsert, like a rate-limit hit (src/durable/rateLimits.ts)
//   GET /d1-read   one D1 query reading one row, like a login's read of the
//                  owner's keys (src/storage/ownerStore.ts)
//   GET /d1-write  one D1 insert of a 1 KB text row, like a message's
//                  (src/storage/messageStore.ts)
// Under `wrangler dev` a D1 query is a subrequest to the local D1 in the Worker's
// workerd, and wrangler's inspector relays DevTools network events for it (see
// docs/benchmarks.md, "Where a request's CPU goes"): the D1 probes show what that
// costs before any of our code runs.
import { DurableObject } from "cloudflare:workers";

export class FloorObject extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS hits (key TEXT PRIMARY KEY, count INTEGER NOT NULL)");
  }

  ping() {
    return 1;
  }

  hit(key) {
    this.ctx.storage.transactionSync(() =>
      this.ctx.storage.sql.exec("INSERT INTO hits (key, count) VALUES (?, 1) ON CONFLICT (key) DO UPDATE SET count = count + 1", key),
    );
    return 1;
  }
}

/** About the length of a sealed message's JWE. */
const ROW = "x".repeat(1024);
/** The D1 table, created once per isolate (the warm-up pays for it). */
let d1Ready;

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === "/") return new Response("ok");
    if (pathname === "/d1-read" || pathname === "/d1-write") {
      d1Ready ??= env.DB.prepare("CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)").run();
      await d1Ready;
      if (pathname === "/d1-write") {
        const row = await env.DB.prepare("INSERT INTO rows (body) VALUES (?) RETURNING id").bind(ROW).first();
        return new Response(String(row.id));
      }
      const row = await env.DB.prepare("SELECT id FROM rows ORDER BY id DESC LIMIT 1").first();
      return new Response(String(row?.id ?? 0));
    }
    // One object, found by name on every request, as src/durable/stub.ts does.
    const stub = env.FLOOR.get(env.FLOOR.idFromName("floor"));
    if (pathname === "/do-call") return new Response(String(await stub.ping()));
    if (pathname === "/do-write") return new Response(String(await stub.hit("bench")));
    return new Response("not found", { status: 404 });
  },
};
