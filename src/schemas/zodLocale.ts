/**
 * zod/mini loads no locale: without one, every issue's message would be "Invalid
 * input". The error bodies carry zod's issues (docs/api.md §0), and their messages
 * must stay readable, so every schema module imports this once for its side
 * effect: zod's English messages, the ones zod classic loads by default. Only
 * the English locale is bundled (importing zod's `locales` namespace would pull in
 * every language).
 */
import { config } from "zod/mini";
import en from "zod/v4/locales/en.js";

config(en());
