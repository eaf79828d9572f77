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

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === "/") return new Response("ok");
    // One object, found by name on every request, as src/durable/stub.ts does.
    const stub = env.FLOOR.get(env.FLOOR.idFromName("floor"));
    if (pathname === "/do-call") return new Response(String(await stub.ping()));
    if (pathname === "/do-write") return new Response(String(await stub.hit("bench")));
    return new Response("not found", { status: 404 });
  },
};
