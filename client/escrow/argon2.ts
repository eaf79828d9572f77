// A module of its own so the bundler keeps only Argon2id (and the BLAKE2b it
// needs) from hash-wasm: a dynamic import of "hash-wasm" itself would keep every
// hash function in it.
export { argon2id } from "hash-wasm";
