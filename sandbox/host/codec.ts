/**
 * Values to bytes and back on the host, in V8's structured clone format:
 * call data out, replies in. The sandbox's Workers use the same serializer
 * (`../worker/runtime.ts`), so both ends write what the other reads.
 *
 * Deno's own serializer (`Deno[Deno.internal].core`, the one `postMessage`
 * uses) is taken when this runtime has it: `node:v8`'s `serialize` walks
 * the value in JavaScript and costs about 14 µs for a one-row call against
 * 3 µs, most of what a warm sandboxed call spends on the host. Where it is
 * missing (a Deno that hides it), `node:v8` serves, with the same format.
 *
 * @module
 */
import {
  deserialize as nodeDeserialize,
  serialize as nodeSerialize,
} from "node:v8";

/** V8's serializer, as the host uses it. */
export interface Codec {
  /** The value's bytes; throws for a value that cannot be cloned. */
  serialize(value: unknown): Uint8Array;
  /** A value from bytes; throws for bytes that are not one. */
  deserialize(bytes: Uint8Array): unknown;
}

interface Core {
  serialize?: (value: unknown) => Uint8Array;
  deserialize?: (bytes: Uint8Array) => unknown;
}

function denoCore(): Core | undefined {
  const deno = Deno as unknown as Record<PropertyKey, unknown>;
  const internal = deno.internal;
  if (typeof internal !== "symbol") return undefined;
  const internals = deno[internal] as { core?: Core } | undefined;
  return internals?.core;
}

function pick(): Codec {
  const core = denoCore();
  if (
    typeof core?.serialize === "function" &&
    typeof core.deserialize === "function"
  ) {
    return {
      serialize: core.serialize.bind(core),
      deserialize: core.deserialize.bind(core),
    };
  }
  return { serialize: nodeSerialize, deserialize: nodeDeserialize };
}

/** The host's serializer: Deno's own when present, else `node:v8`'s. */
export const codec: Codec = pick();

/** `node:v8`'s serializer: what {@linkcode codec} falls back to. */
export const nodeCodec: Codec = {
  serialize: nodeSerialize,
  deserialize: nodeDeserialize,
};
