/**
 * Counters, gauges and histograms, rendered in the Prometheus text
 * exposition format 0.0.4. Each series keeps its rendered name and labels,
 * escaped once when it is created, so a scrape only joins strings.
 *
 * @module
 */

/** The `Content-Type` of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE =
  "text/plain; version=0.0.4; charset=utf-8";

/**
 * Escapes a label value: backslash, double quote and line feed, as the text
 * format asks.
 *
 * @param value The raw value.
 * @returns The value to write between the quotes.
 *
 * @example Escaping a label value
 * ```ts
 * import { escapeLabelValue } from "./metrics.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(escapeLabelValue('a "b"\nc\\'), 'a \\"b\\"\\nc\\\\');
 * ```
 */
export function escapeLabelValue(value: string): string {
  return value.replace(
    /[\\"\n]/g,
    (char) => char === "\n" ? "\\n" : `\\${char}`,
  );
}

function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (char) => char === "\n" ? "\\n" : "\\\\");
}

/** A sample value as the text format writes it. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function labelText(names: readonly string[], values: readonly string[]) {
  if (names.length === 0) return "";
  const pairs = names.map((name, i) =>
    `${name}="${escapeLabelValue(values[i] ?? "")}"`
  );
  return `{${pairs.join(",")}}`;
}

/**
 * Series by label values, a map level per label: no joined key that two
 * different value lists could share.
 */
class SeriesTable<S> {
  readonly #root = new Map<string, unknown>();
  readonly #all: S[] = [];
  readonly #arity: number;
  readonly #create: (values: readonly string[]) => S;

  constructor(arity: number, create: (values: readonly string[]) => S) {
    this.#arity = arity;
    this.#create = create;
  }

  get(values: readonly string[]): S {
    if (values.length !== this.#arity) {
      throw new RangeError(
        `Expected ${this.#arity} label values, received ${values.length}`,
      );
    }
    let level = this.#root;
    for (let i = 0; i < this.#arity - 1; i++) {
      const value = values[i]!;
      let next = level.get(value) as Map<string, unknown> | undefined;
      if (!next) level.set(value, next = new Map());
      level = next;
    }
    const last = this.#arity === 0 ? "" : values[this.#arity - 1]!;
    let series = level.get(last) as S | undefined;
    if (series === undefined) {
      series = this.#create(values);
      level.set(last, series);
      this.#all.push(series);
    }
    return series;
  }

  has(values: readonly string[]): boolean {
    let level: unknown = this.#root;
    for (let i = 0; i < this.#arity; i++) {
      level = (level as Map<string, unknown>).get(values[i]!);
      if (level === undefined) return false;
    }
    return this.#arity > 0 || this.#root.has("");
  }

  all(): readonly S[] {
    return this.#all;
  }
}

interface Family {
  render(): string;
}

abstract class Metric<S> implements Family {
  readonly name: string;
  readonly #header: string;
  protected readonly table: SeriesTable<S>;

  constructor(
    name: string,
    help: string,
    type: string,
    labelNames: readonly string[],
  ) {
    this.name = name;
    this.#header = `# HELP ${name} ${
      escapeHelp(help)
    }\n# TYPE ${name} ${type}\n`;
    this.table = new SeriesTable(
      labelNames.length,
      (values) => this.createSeries(labelText(labelNames, values), values),
    );
  }

  protected abstract createSeries(labels: string, values: readonly string[]): S;
  protected abstract renderSeries(series: S): string;

  render(): string {
    // String concatenation builds ropes: cheaper here than pushing parts and joining.
    let text = this.#header;
    for (const series of this.table.all()) text += this.renderSeries(series);
    return text;
  }
}

interface ValueSeries {
  prefix: string;
  value: number;
}

/** A value that only goes up. */
export class Counter extends Metric<ValueSeries> {
  /**
   * @param name The metric's name (`_total` by convention).
   * @param help What it counts.
   * @param labelNames Its label names.
   */
  constructor(name: string, help: string, labelNames: readonly string[]) {
    super(name, help, "counter", labelNames);
  }

  /**
   * Adds to a series, creating it at 0 first.
   *
   * @param labels The label values, in the order of the label names.
   * @param by How much (default 1; never negative).
   */
  inc(labels: readonly string[], by = 1): void {
    if (!(by >= 0)) throw new RangeError(`A counter cannot add ${by}`);
    this.table.get(labels).value += by;
  }

  /** Creates the series at 0 when it does not exist, so that it is scraped before its first event. */
  touch(labels: readonly string[]): void {
    this.table.get(labels);
  }

  /** The value of a series (0 when absent). */
  value(labels: readonly string[]): number {
    return this.table.has(labels) ? this.table.get(labels).value : 0;
  }

  protected createSeries(labels: string): ValueSeries {
    return { prefix: `${this.name}${labels} `, value: 0 };
  }

  protected renderSeries(series: ValueSeries): string {
    return `${series.prefix}${formatValue(series.value)}\n`;
  }
}

/** A value that goes up and down; set at scrape time. */
export class Gauge extends Metric<ValueSeries> {
  /**
   * @param name The metric's name.
   * @param help What it measures.
   * @param labelNames Its label names.
   */
  constructor(name: string, help: string, labelNames: readonly string[]) {
    super(name, help, "gauge", labelNames);
  }

  /** Sets a series. */
  set(labels: readonly string[], value: number): void {
    this.table.get(labels).value = value;
  }

  /** Creates the series at 0 when it does not exist; an existing one keeps its value. */
  touch(labels: readonly string[]): void {
    this.table.get(labels);
  }

  protected createSeries(labels: string): ValueSeries {
    return { prefix: `${this.name}${labels} `, value: 0 };
  }

  protected renderSeries(series: ValueSeries): string {
    return `${series.prefix}${formatValue(series.value)}\n`;
  }
}

interface HistogramSeries {
  bucketPrefixes: string[];
  sumPrefix: string;
  countPrefix: string;
  counts: number[];
  sum: number;
  count: number;
}

/** Observations counted in cumulative buckets. */
export class Histogram extends Metric<HistogramSeries> {
  readonly #bounds: readonly number[];
  readonly #labelNames: readonly string[];

  /**
   * @param name The metric's name.
   * @param help What it measures.
   * @param labelNames Its label names (not `le`).
   * @param bounds The buckets' upper bounds, increasing; `+Inf` is added.
   */
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    bounds: readonly number[],
  ) {
    super(name, help, "histogram", labelNames);
    this.#bounds = [...bounds];
    this.#labelNames = labelNames;
  }

  /** Counts one observation. */
  observe(labels: readonly string[], value: number): void {
    const series = this.table.get(labels);
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    series.counts[i]!++;
    series.sum += value;
    series.count++;
  }

  protected createSeries(
    _labels: string,
    values: readonly string[],
  ): HistogramSeries {
    const names = [...this.#labelNames, "le"];
    const bucket = (le: string) =>
      `${this.name}_bucket${labelText(names, [...values, le])} `;
    const labels = labelText(this.#labelNames, values);
    return {
      bucketPrefixes: [...this.#bounds.map(formatValue), "+Inf"].map(bucket),
      sumPrefix: `${this.name}_sum${labels} `,
      countPrefix: `${this.name}_count${labels} `,
      counts: new Array(this.#bounds.length + 1).fill(0),
      sum: 0,
      count: 0,
    };
  }

  protected renderSeries(series: HistogramSeries): string {
    let cumulative = 0;
    let text = "";
    for (let i = 0; i < series.counts.length; i++) {
      cumulative += series.counts[i]!;
      text += `${series.bucketPrefixes[i]!}${cumulative}\n`;
    }
    return `${text}${series.sumPrefix}${
      formatValue(series.sum)
    }\n${series.countPrefix}${series.count}\n`;
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A set of metrics rendered together, in the order they were created. */
export class MetricsRegistry {
  readonly #families: Family[] = [];
  readonly #names = new Set<string>();

  /** Creates a counter. */
  counter(name: string, help: string, labelNames: string[] = []): Counter {
    return this.#add(name, labelNames, new Counter(name, help, labelNames));
  }

  /** Creates a gauge. */
  gauge(name: string, help: string, labelNames: string[] = []): Gauge {
    return this.#add(name, labelNames, new Gauge(name, help, labelNames));
  }

  /** Creates a histogram with the given bucket bounds. */
  histogram(
    name: string,
    help: string,
    labelNames: string[],
    bounds: readonly number[],
  ): Histogram {
    return this.#add(
      name,
      labelNames,
      new Histogram(name, help, labelNames, bounds),
    );
  }

  /** Every metric, as one text exposition. */
  render(): string {
    let text = "";
    for (const family of this.#families) text += family.render();
    return text;
  }

  #add<F extends Family>(name: string, labelNames: string[], family: F): F {
    if (!METRIC_NAME.test(name) || this.#names.has(name)) {
      throw new RangeError(`Invalid or duplicate metric name "${name}"`);
    }
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith("__") || label === "le") {
        throw new RangeError(`Invalid label name "${label}" for ${name}`);
      }
    }
    this.#names.add(name);
    this.#families.push(family);
    return family;
  }
}
