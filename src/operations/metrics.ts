/**
 * A small metrics registry — counters, gauges, histograms with labels — rendered in Prometheus'
 * text exposition format 0.0.4. No dependency, and nothing on the hot path but a string join, a
 * map lookup and an addition: label text is escaped once, when a series first appears.
 *
 * @module
 */

/** The `content-type` of {@link Registry.exposition}'s output. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

interface Series<T> {
  /** `{a="x",b="y"}`, escaped; empty without labels. */
  labels: string;
  data: T;
}

abstract class Family<T> {
  readonly #series = new Map<string, Series<T>>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name "${name}"`);
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith("__")) {
        throw new Error(`invalid label name "${label}" on ${name}`);
      }
    }
  }

  abstract readonly type: "counter" | "gauge" | "histogram";
  protected abstract create(): T;
  protected abstract samples(series: Series<T>): string;

  protected series(values: readonly string[]): T {
    const key = values.join("\u0000");
    let series = this.#series.get(key);
    if (!series) {
      if (values.length !== this.labelNames.length) {
        throw new Error(`${this.name} takes labels ${this.labelNames.join(", ")}`);
      }
      series = { labels: labelText(this.labelNames, values), data: this.create() };
      this.#series.set(key, series);
    }
    return series.data;
  }

  protected allSeries(): Iterable<Series<T>> {
    return this.#series.values();
  }

  render(): string {
    let text = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
    for (const series of this.allSeries()) text += this.samples(series);
    return text;
  }
}

/** A value that only goes up. */
export class Counter extends Family<{ value: number }> {
  readonly type = "counter";

  /** Adds `by` (default 1) to the series with these label values, in `labelNames` order. */
  inc(values: readonly string[] = [], by = 1): void {
    this.series(values).value += by;
  }

  protected create() {
    return { value: 0 };
  }

  protected samples(s: Series<{ value: number }>): string {
    return `${this.name}${s.labels} ${formatValue(s.data.value)}\n`;
  }
}

/** A value that goes up and down, set as things happen or read when scraped. */
export class Gauge extends Family<{ value: number }> {
  readonly type = "gauge";

  /**
   * `collect`, when given, is called on every scrape and sets the series it returns (label
   * values, value); use it for state that lives elsewhere, like a key pool.
   */
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly collect?: () => Iterable<[readonly string[], number]>,
  ) {
    super(name, help, labelNames);
  }

  set(values: readonly string[], value: number): void {
    this.series(values).value = value;
  }

  inc(values: readonly string[] = [], by = 1): void {
    this.series(values).value += by;
  }

  dec(values: readonly string[] = [], by = 1): void {
    this.series(values).value -= by;
  }

  protected create() {
    return { value: 0 };
  }

  protected override allSeries(): Iterable<Series<{ value: number }>> {
    if (this.collect) { for (const [values, value] of this.collect()) this.set(values, value); }
    return super.allSeries();
  }

  protected samples(s: Series<{ value: number }>): string {
    return `${this.name}${s.labels} ${formatValue(s.data.value)}\n`;
  }
}

interface Buckets {
  /** Observations per bucket, not cumulative; the last slot is above every bound. */
  counts: number[];
  sum: number;
}

/** Observations counted into buckets with upper bounds, plus their sum and count. */
export class Histogram extends Family<Buckets> {
  readonly type = "histogram";
  readonly #bounds: readonly number[];
  readonly #le: readonly string[];

  /** `bounds`: increasing upper bounds of the buckets; `+Inf` is added. */
  constructor(name: string, help: string, labelNames: readonly string[], bounds: number[]) {
    super(name, help, labelNames);
    if (labelNames.includes("le")) throw new Error(`${name}: "le" is reserved for buckets`);
    if (bounds.length === 0 || bounds.some((b, i) => i > 0 && b <= bounds[i - 1])) {
      throw new Error(`${name}: bucket bounds must increase`);
    }
    this.#bounds = bounds;
    this.#le = [...bounds.map(formatValue), "+Inf"];
  }

  observe(values: readonly string[], value: number): void {
    const b = this.series(values);
    let i = 0;
    while (i < this.#bounds.length && value > this.#bounds[i]) i++;
    b.counts[i]++;
    b.sum += value;
  }

  protected create(): Buckets {
    return { counts: new Array(this.#bounds.length + 1).fill(0), sum: 0 };
  }

  protected samples(s: Series<Buckets>): string {
    // Bucket labels go after the series' own: `{backend="x",le="0.5"}`.
    const open = s.labels === "" ? "{" : `${s.labels.slice(0, -1)},`;
    let text = "";
    let cumulative = 0;
    for (let i = 0; i < this.#le.length; i++) {
      cumulative += s.data.counts[i];
      text += `${this.name}_bucket${open}le="${this.#le[i]}"} ${cumulative}\n`;
    }
    text += `${this.name}_sum${s.labels} ${formatValue(s.data.sum)}\n`;
    text += `${this.name}_count${s.labels} ${cumulative}\n`;
    return text;
  }
}

/** What the registry needs of a metric family. */
interface Rendered {
  readonly name: string;
  render(): string;
}

/**
 * Metric families, exposed in the order they were made.
 *
 * @example
 * ```ts
 * const registry = new Registry();
 * const requests = registry.counter("app_requests_total", "Requests answered.", ["status"]);
 * requests.inc(["200"]);
 * registry.exposition();
 * // # HELP app_requests_total Requests answered.
 * // # TYPE app_requests_total counter
 * // app_requests_total{status="200"} 1
 * ```
 */
export class Registry {
  readonly #families: Rendered[] = [];

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.#add(new Counter(name, help, labelNames));
  }

  /** See {@link Gauge} for `collect`. */
  gauge(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    collect?: () => Iterable<[readonly string[], number]>,
  ): Gauge {
    return this.#add(new Gauge(name, help, labelNames, collect));
  }

  histogram(
    name: string,
    help: string,
    labelNames: readonly string[],
    bounds: number[],
  ): Histogram {
    return this.#add(new Histogram(name, help, labelNames, bounds));
  }

  /** Every family: its HELP and TYPE lines, then its samples. */
  exposition(): string {
    return this.#families.map((f) => f.render()).join("");
  }

  #add<F extends Rendered>(family: F): F {
    if (this.#families.some((f) => f.name === family.name)) {
      throw new Error(`metric ${family.name} is registered twice`);
    }
    this.#families.push(family);
    return family;
  }
}

function labelText(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) return "";
  return `{${names.map((n, i) => `${n}="${escapeLabelValue(values[i])}"`).join(",")}}`;
}

/** A label value as the exposition format wants it: `\`, `"` and newlines escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\");
}

/** A sample value: integers as they are, `+Inf`/`-Inf`/`NaN` spelled as Prometheus does. */
function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}
