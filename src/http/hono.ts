/**
 * The Hono app class every route module builds on: hono/tiny's (HonoBase with its
 * PatternRouter, the smallest router), with the router's answers remembered.
 *
 * PatternRouter tries each of the app's ~130 routes' regular expressions in turn for
 * every request: about a quarter of a refresh's own CPU in a profile
 * (docs/benchmarks.md, "Where a request's CPU goes"). hono's RegExpRouter matches in
 * one step but adds 1.3 KiB gzipped, more than the Worker's 100 KiB budget has left.
 * So the answer for a method and path is kept: routes are all added before the first
 * request, a match is a pure function of the two (hono reads its result and never
 * changes it), and the hot paths are a handful of fixed paths. The memory is bounded:
 * at MAX_REMEMBERED answers it starts again, so a stranger asking for endless made-up
 * paths costs what every request cost before, never memory.
 */
import { HonoBase, type HonoOptions } from "hono/hono-base";
import type { Result, Router } from "hono/router";
import { PatternRouter } from "hono/router/pattern-router";
import type { BlankEnv, BlankSchema, Env, Schema } from "hono/types";

const MAX_REMEMBERED = 512;

export class RememberingRouter<T> implements Router<T> {
  readonly name = "RememberingRouter";
  readonly #router = new PatternRouter<T>();
  readonly #answers = new Map<string, Result<T>>();

  add(method: string, path: string, handler: T): void {
    this.#answers.clear();
    this.#router.add(method, path, handler);
  }

  match(method: string, path: string): Result<T> {
    const key = `${method} ${path}`;
    let answer = this.#answers.get(key);
    if (answer === undefined) {
      answer = this.#router.match(method, path);
      if (this.#answers.size >= MAX_REMEMBERED) this.#answers.clear();
      this.#answers.set(key, answer);
    }
    return answer;
  }
}

export class Hono<E extends Env = BlankEnv, S extends Schema = BlankSchema, BasePath extends string = "/"> extends HonoBase<E, S, BasePath> {
  constructor(options: HonoOptions<E> = {}) {
    super(options);
    this.router = new RememberingRouter();
  }
}
