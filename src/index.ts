/** Worker entry point: the HTTP app, and the instance's Durable Object class. */
import { createApp } from "./app";
import type { Env } from "./env";

export { InstanceDO } from "./durable/instance";

const app = createApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
