// The benchmark's floor (scripts/bench.mjs): a Worker that does nothing. Served by
// the same `wrangler dev` harness as the instance and measured in the same run, it
// shows what any request costs on this machine before the server does any work:
// the client, wrangler's proxy, workerd's HTTP handling and the loopback round trip.
export default {
  fetch() {
    return new Response("ok");
  },
};
