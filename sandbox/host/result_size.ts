/**
 * What a reply will cost the host, read from its bytes before anything is
 * built from them. A reply crosses in V8's serialization format; turning it
 * back into objects happens in one synchronous call on the host's event
 * loop, and a few megabytes of tiny objects (`[{}, {}, …]`, a million
 * keys) take seconds and gigabytes to build. So the bytes are read first,
 * without building anything, for two measures:
 *
 * - its size as JSON, shared references counted as often as they appear
 *   (a few hundred bytes of `n = [n, n]` nested 25 times are gigabytes in the
 *   report and the history), each shared object measured once;
 * - its cost: the work of building it ({@linkcode COST}).
 *
 * Reading is linear in the bytes, stops as soon as either limit is passed,
 * and yields to the event loop every few milliseconds, so a hostile reply
 * costs the host little and never blocks it.
 *
 * @module
 */

/** Why a reply cannot be measured (and so cannot be taken in). */
export class UnreadableReply extends Error {}

/** The two measures of a reply. */
export interface ReplyMeasure {
  /**
   * Its length as JSON, near enough; `limits.json + 1` once over, 0 when
   * reading stopped at the cost limit.
   */
  json: number;
  /** The work of building it; `limits.cost + 1` once over, 0 when reading stopped at the JSON limit. */
  cost: number;
}

/**
 * What building each kind of value costs the host, in units of about 10 ns
 * of one core (measured on V8's deserializer, Deno 2.9).
 */
export const COST = {
  object: 12,
  date: 18,
  /** A typed array or DataView (its buffer counts as an object too). */
  view: 36,
  string: 6,
  /** A string or number as an object's key. */
  key: 1,
  primitive: 1,
  /** Each key of an object with more than 1,000 keys, and of a sparse array. */
  dictionaryKey: 48,
  /** Each key, value or member of a Map or Set (V8 inserts them one by one). */
  entry: 32,
};
/**
 * The most a reply may cost: about 165,000 objects, or 2 million numbers
 * (74,000 rows of five columns, 87,000 of three). V8's deserializer builds
 * it in one go, about 35 ms of one core on a 2-core VM (Deno 2.9); at 3
 * million a job's host was once blocked 106 ms, on a machine otherwise idle.
 */
export const MAX_COST = 2_000_000;
/** Replies smaller than this are measured at once; larger ones in slices of this many ms. */
const SLICE = { bytes: 64 * 1024, ms: 8 };
/** Past this many keys V8 keeps an object as a (slower) dictionary. */
const DICTIONARY_KEYS = 1000;
/** The deepest nesting read (deeper would overflow the stack when written as JSON). */
export const MAX_DEPTH = 1000;

const tag = (char: string) => char.charCodeAt(0);
const T = {
  padding: 0,
  version: 0xff,
  verifyCount: tag("?"),
  hole: tag("-"),
  undefined: tag("_"),
  null: tag("0"),
  true: tag("T"),
  false: tag("F"),
  int32: tag("I"),
  uint32: tag("U"),
  double: tag("N"),
  bigint: tag("Z"),
  utf8: tag("S"),
  oneByte: tag('"'),
  twoByte: tag("c"),
  reference: tag("^"),
  object: tag("o"),
  endObject: tag("{"),
  sparse: tag("a"),
  endSparse: tag("@"),
  dense: tag("A"),
  endDense: tag("$"),
  date: tag("D"),
  trueObject: tag("y"),
  falseObject: tag("x"),
  numberObject: tag("n"),
  bigintObject: tag("z"),
  stringObject: tag("s"),
  regexp: tag("R"),
  map: tag(";"),
  endMap: tag(":"),
  set: tag("'"),
  endSet: tag(","),
  arrayBuffer: tag("B"),
  resizableBuffer: tag("~"),
  view: tag("V"),
  error: tag("r"),
  hostObject: tag("\\"),
};
/** Element sizes of typed array views, by sub-tag. */
const VIEW_ELEMENT: Record<number, number> = Object.fromEntries(
  [..."bBCwWdDhfFqQ?"].map((sub, i) => [
    tag(sub),
    [
      1,
      1,
      1,
      2,
      2,
      4,
      4,
      2,
      4,
      8,
      8,
      8,
      1,
    ][i]!,
  ]),
);
/** Element sizes of the views Node's serializer writes as host objects, by index. */
const HOST_VIEW_ELEMENT = [1, 1, 1, 2, 2, 4, 4, 4, 8, 1, 8, 8, 1, 2];
/** Error sub-tags: prototypes (no data), then message, stack, cause, end. */
const ERROR_PROTOTYPES = new Set([..."ERFSTU"].map(tag));
const OPEN = -1;
/** The end tag of each container. */
const END: Record<number, number> = {
  [T.object]: T.endObject,
  [T.dense]: T.endDense,
  [T.sparse]: T.endSparse,
  [T.map]: T.endMap,
  [T.set]: T.endSet,
};

interface Frame {
  kind: number;
  id: number;
  /** JSON length so far. */
  size: number;
  /** Values read in it. */
  n: number;
  /** An array's length. */
  length: number;
  /** A sparse array's elements present. */
  present: number;
  /** An object's pending key length; a sparse array's pending index. */
  key: number;
  /** An error waiting for the value after its sub-tag. */
  awaiting: boolean;
}

/**
 * Measures a serialized reply (see the module doc): at once when it is
 * small, else in slices of a few milliseconds.
 *
 * @throws {UnreadableReply} for bytes that are not a value V8 would read
 * back here, a cycle (JSON cannot hold one), or nesting past
 * {@linkcode MAX_DEPTH}.
 */
export function measureReply(
  bytes: Uint8Array,
  limits: { json: number; cost: number },
): ReplyMeasure | Promise<ReplyMeasure> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length;
  const sizes: number[] = [];
  const stack: Frame[] = [];
  let top: Frame | undefined;
  let at = 0;
  let cost = 0;
  let root = -1;
  const fail = (why: string): never => {
    throw new UnreadableReply(why);
  };
  const varint = () => {
    let value = 0;
    for (let scale = 1;; scale *= 128) {
      if (at >= end) fail("it is cut short");
      const b = bytes[at++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      if (scale > 2 ** 42) fail("a number in it is malformed");
    }
  };
  const skip = (length: number) => {
    if (length > end - at) fail("it is cut short");
    at += length;
  };
  /** Whether the value being read is an object's key (or a sparse array's index). */
  const isKey = () =>
    top !== undefined && top.n % 2 === 0 &&
    (top.kind === T.object || top.kind === T.sparse);

  /** A finished value: its JSON length, and as a key, its length and index. */
  const deliver = (json: number, keyLength = -1, index = -1): boolean => {
    if (json > limits.json) return false;
    if (top === undefined) {
      root = json;
      return true;
    }
    const kind = top.kind;
    if (kind === T.object) {
      if (top.n % 2 === 0) {
        if (keyLength < 0) {
          fail("an object key in it is not a string or number");
        }
        top.key = keyLength;
      } else {
        top.size += top.key + 4 + json;
      }
    } else if (kind === T.dense) {
      if (top.n < top.length) top.size += json;
    } else if (kind === T.sparse) {
      if (top.n % 2 === 0) {
        cost += COST.dictionaryKey;
        top.key = index;
      } else if (top.key >= 0 && top.key < top.length) {
        top.size += json;
        top.present++;
      }
    } else if (kind === T.error) {
      top.awaiting = false;
    } else {
      cost += COST.entry;
    }
    top.n++;
    return top.size <= limits.json;
  };
  const open = (kind: number, size: number, length = 0) => {
    if (stack.length >= MAX_DEPTH) {
      fail(`it is nested more than ${MAX_DEPTH} deep`);
    }
    const id = sizes.length;
    sizes.push(OPEN);
    cost += COST.object;
    top = {
      kind,
      id,
      size,
      n: 0,
      length,
      present: 0,
      key: -1,
      awaiting: false,
    };
    stack.push(top);
  };
  const close = (json: number): boolean => {
    const frame = stack.pop()!;
    top = stack[stack.length - 1];
    sizes[frame.id] = json;
    return deliver(json);
  };
  /** An object with an id and no children (a date, a buffer, …). */
  const leaf = (json: number, weight = COST.object): boolean => {
    sizes.push(json);
    cost += weight;
    return deliver(json);
  };
  /** A string's characters, from its tag. */
  const string = (kind: number): number => {
    const length = varint();
    skip(length);
    if (kind !== T.twoByte) return length;
    if (length % 2 !== 0) fail("a string in it is malformed");
    return length / 2;
  };
  /** A typed array view on the buffer just read, if one follows. */
  const viewAfterBuffer = (bufferJson: number): number => {
    if (bytes[at] !== T.view) return bufferJson;
    at++;
    const sub = varint();
    varint(); // byte offset
    const byteLength = varint();
    varint(); // flags (format version 14 and later)
    const element = VIEW_ELEMENT[sub] ?? fail("a typed array in it is unknown");
    sizes.push(0);
    cost += COST.view;
    return 2 + (byteLength / element) * 8;
  };
  /** A number's JSON, exactly: `null` when not finite. */
  const numberJson = (value: number): number =>
    Number.isFinite(value) ? String(value).length : 4;
  const number = (value: number): boolean => {
    cost += COST.primitive;
    const json = numberJson(value);
    if (!isKey()) return deliver(json);
    return deliver(
      json,
      String(value).length,
      Number.isInteger(value) && value >= 0 ? value : -1,
    );
  };

  /** Reads values for a while: false when over a limit, true when done. */
  const slice = (until: number): boolean | undefined => {
    for (let steps = 1; root < 0; steps++) {
      if ((steps & 0xfff) === 0 && performance.now() > until) return undefined;
      if (cost > limits.cost) return false;
      if (top !== undefined && top.kind === T.error && !top.awaiting) {
        if (at >= end) fail("it is cut short");
        const sub = bytes[at++]!;
        // Bytes that build nothing still cost their reading: no free loops.
        cost += COST.primitive;
        if (ERROR_PROTOTYPES.has(sub)) continue;
        if (sub === tag(".")) {
          if (!close(2)) return false;
          continue;
        }
        if (sub !== tag("m") && sub !== tag("s") && sub !== tag("c")) {
          fail("an error in it is malformed");
        }
        top.awaiting = true;
        continue;
      }
      if (at >= end) fail("it is cut short");
      const t = bytes[at++]!;
      let ok: boolean;
      switch (t) {
        case T.padding:
          cost += COST.primitive;
          continue;
        case T.verifyCount:
          varint();
          cost += COST.primitive;
          continue;
        case T.endObject:
        case T.endDense:
        case T.endSparse:
        case T.endMap:
        case T.endSet: {
          const frame = top;
          if (frame === undefined || END[frame.kind] !== t) {
            return fail("it is malformed");
          }
          varint();
          if (t === T.endDense || t === T.endSparse) varint();
          if (frame.kind === T.object && frame.n / 2 > DICTIONARY_KEYS) {
            cost += (frame.n / 2) * COST.dictionaryKey;
          }
          ok = close(
            t === T.endSparse
              ? frame.size + 4 * (frame.length - frame.present)
              : t === T.endMap || t === T.endSet
              ? 2
              : frame.size,
          );
          break;
        }
        case T.hole:
          if (top?.kind !== T.dense) fail("it holds a hole outside an array");
          cost += COST.primitive;
          ok = deliver(4);
          break;
        case T.undefined:
        case T.null:
          cost += COST.primitive;
          ok = deliver(4);
          break;
        case T.true:
        case T.false:
          cost += COST.primitive;
          ok = deliver(5);
          break;
        case T.int32: {
          const raw = varint();
          ok = number(raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2);
          break;
        }
        case T.uint32:
          ok = number(varint());
          break;
        case T.double:
          skip(8);
          ok = number(view.getFloat64(at - 8, true));
          break;
        case T.bigint: {
          const length = Math.floor(varint() / 2);
          skip(length);
          cost += COST.primitive;
          ok = deliver(Math.ceil(length * 2.5) + 2);
          break;
        }
        case T.utf8:
        case T.oneByte:
        case T.twoByte: {
          const key = isKey();
          const length = string(t);
          cost += key ? COST.key : COST.string;
          ok = deliver(length + 2, length);
          break;
        }
        case T.reference: {
          const json = sizes[varint()] ??
            fail("it refers to an object it does not hold");
          if (json === OPEN) fail("it holds a cycle");
          ok = deliver(viewAfterBuffer(json));
          break;
        }
        case T.object:
        case T.map:
        case T.set:
        case T.error:
          open(t, 2);
          ok = true;
          break;
        case T.dense:
        case T.sparse: {
          const length = varint();
          open(t, 2 + Math.max(0, length - 1), length);
          ok = true;
          break;
        }
        case T.date:
          skip(8);
          ok = leaf(26, COST.date);
          break;
        case T.trueObject:
        case T.falseObject:
          ok = leaf(5);
          break;
        case T.numberObject:
          skip(8);
          ok = leaf(24);
          break;
        case T.bigintObject:
          skip(Math.floor(varint() / 2));
          ok = leaf(24);
          break;
        case T.stringObject:
        case T.regexp: {
          while (bytes[at] === T.padding) at++;
          const inner = bytes[at++];
          if (inner !== T.utf8 && inner !== T.oneByte && inner !== T.twoByte) {
            return fail("a string object or pattern in it is malformed");
          }
          const length = string(inner);
          if (t === T.regexp) varint(); // flags
          ok = leaf(t === T.regexp ? 2 : length + 2);
          break;
        }
        case T.arrayBuffer:
        case T.resizableBuffer: {
          const length = varint();
          if (t === T.resizableBuffer) varint(); // max length
          skip(length);
          sizes.push(2);
          cost += COST.object;
          ok = deliver(viewAfterBuffer(2));
          break;
        }
        case T.hostObject: {
          // Node's serializer writes typed arrays this way: index, length, bytes.
          const index = varint();
          const length = varint();
          skip(length);
          const element = HOST_VIEW_ELEMENT[index] ??
            fail("a typed array in it is unknown");
          ok = leaf(2 + (length / element) * 8, COST.view);
          break;
        }
        default:
          return fail(
            `it holds a value that cannot cross (tag 0x${t.toString(16)})`,
          );
      }
      if (!ok || cost > limits.cost) return false;
    }
    return true;
  };

  const finish = (): ReplyMeasure => {
    if (at !== end) fail("it holds bytes after its value");
    return { json: root, cost };
  };
  if (bytes[at++] !== T.version || varint() < 13) fail("its format is unknown");
  // A small reply at once, with no promise (every warm call's is small).
  /** Stopped past a limit: the one passed is over, the other unknown (0). */
  const over = (): ReplyMeasure =>
    cost > limits.cost
      ? { json: 0, cost: limits.cost + 1 }
      : { json: limits.json + 1, cost: 0 };
  if (end <= SLICE.bytes) return slice(Infinity) ? finish() : over();
  return (async () => {
    for (;;) {
      const done = slice(performance.now() + SLICE.ms);
      if (done === false) return over();
      if (done) return finish();
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  })();
}
