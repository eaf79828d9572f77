// Imported first by every entry point. zod compiles object parsers with
// new Function() when it can; the CSP forbids eval (and should), so the attempt
// would only log a violation. jitless skips it.
import { config } from "zod/mini";

config({ jitless: true });
