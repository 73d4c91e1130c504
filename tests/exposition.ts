/**
 * A strict parser for Prometheus' text exposition format 0.0.4, for tests: any line a real
 * scraper could reject (or misread) throws. Checks metric and label name syntax, escapes in label
 * values, HELP/TYPE placement, families kept together, no duplicate series, and for histograms:
 * increasing `le` bounds, cumulative bucket counts, a `+Inf` bucket equal to `_count`, a `_sum`.
 *
 * @module
 */

/** One sample line. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One metric family: its HELP, TYPE and samples. */
export interface MetricFamily {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const VALUE = /^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

/** Parses `text`, throwing an Error naming the line on the first violation. */
export function parseExposition(text: string): Map<string, MetricFamily> {
  if (text !== "" && !text.endsWith("\n")) throw new Error("exposition must end with a newline");
  const families = new Map<string, MetricFamily>();
  const seen = new Set<string>();
  let current: MetricFamily | undefined;
  const lines = text.split("\n").slice(0, -1);
  lines.forEach((line, i) => {
    const fail = (why: string): never => {
      throw new Error(`line ${i + 1}: ${why}: ${JSON.stringify(line)}`);
    };
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line) ?? fail("malformed comment");
      const [, kind, name, rest] = m;
      if (!METRIC_NAME.test(name)) fail("bad metric name");
      let family = families.get(name);
      if (family && family !== current) fail("family split in two");
      if (!family) {
        family = { name, help: "", type: "untyped", samples: [] };
        families.set(name, family);
        current = family;
      }
      if (kind === "HELP") {
        if (family.help !== "") fail("second HELP");
        if (rest.replace(/\\[\\n]/g, "").includes("\\")) fail("bad escape in HELP");
        family.help = rest.replace(/\\(\\|n)/g, (_, c) => c === "n" ? "\n" : "\\");
      } else {
        if (!TYPES.has(rest)) fail("unknown TYPE");
        if (family.samples.length > 0) fail("TYPE after samples");
        family.type = rest as MetricFamily["type"];
      }
      return;
    }
    if (line.trim() === "") fail("blank line");
    const sample = parseSample(line, fail);
    const family = current && familyOf(sample.name, current) ? current : undefined;
    if (!family) fail("sample outside its family (no HELP/TYPE just before it)");
    const key = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`;
    if (seen.has(key)) fail("duplicate series");
    seen.add(key);
    family!.samples.push(sample);
  });
  for (const family of families.values()) {
    if (family.type === "histogram") checkHistogram(family);
  }
  return families;
}

function familyOf(sampleName: string, family: MetricFamily): boolean {
  if (sampleName === family.name) return family.type !== "histogram";
  if (family.type !== "histogram") return false;
  return ["_bucket", "_sum", "_count"].some((s) => sampleName === family.name + s);
}

function parseSample(line: string, fail: (why: string) => never): Sample {
  const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? fail("bad metric name");
  let pos = name.length;
  const labels: Record<string, string> = {};
  if (line[pos] === "{") {
    pos++;
    while (line[pos] !== "}") {
      const label = /^[^=]*/.exec(line.slice(pos))![0];
      if (!LABEL_NAME.test(label)) fail(`bad label name "${label}"`);
      if (label in labels) fail(`label "${label}" repeated`);
      pos += label.length;
      if (line.slice(pos, pos + 2) !== '="') fail('label without ="value"');
      pos += 2;
      let value = "";
      for (;;) {
        const c = line[pos++];
        if (c === undefined) fail("unterminated label value");
        if (c === '"') break;
        if (c === "\\") {
          const e = line[pos++];
          if (e === "\\") value += "\\";
          else if (e === '"') value += '"';
          else if (e === "n") value += "\n";
          else fail("bad escape in label value");
        } else value += c;
      }
      labels[label] = value;
      if (line[pos] === ",") pos++;
      else if (line[pos] !== "}") fail("labels not separated by commas");
    }
    pos++;
  }
  const parts = line.slice(pos).split(" ");
  if (parts[0] !== "" || parts.length < 2 || parts.length > 3) {
    fail("expected ' value [timestamp]'");
  }
  if (!VALUE.test(parts[1])) fail("bad value");
  if (parts[2] !== undefined && !/^-?\d+$/.test(parts[2])) fail("bad timestamp");
  return { name, labels, value: parseValue(parts[1]) };
}

function parseValue(text: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  return Number(text);
}

function checkHistogram(family: MetricFamily): void {
  const series = new Map<
    string,
    { buckets: Array<[number, number]>; sum?: number; count?: number }
  >();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (s.name.endsWith("_bucket")) {
      if (le === undefined) throw new Error(`${family.name}: bucket without le`);
      entry.buckets.push([parseValue(le), s.value]);
    } else if (le !== undefined) throw new Error(`${family.name}: le outside a bucket`);
    else if (s.name.endsWith("_sum")) entry.sum = s.value;
    else entry.count = s.value;
  }
  for (const [key, { buckets, sum, count }] of series) {
    const at = `${family.name}${key}`;
    if (buckets.at(-1)?.[0] !== Infinity) throw new Error(`${at}: no +Inf bucket last`);
    buckets.forEach(([le, n], i) => {
      if (i === 0) return;
      if (le <= buckets[i - 1][0]) throw new Error(`${at}: le bounds not increasing`);
      if (n < buckets[i - 1][1]) throw new Error(`${at}: buckets not cumulative`);
    });
    if (sum === undefined) throw new Error(`${at}: no _sum`);
    if (count !== buckets.at(-1)![1]) throw new Error(`${at}: +Inf bucket is not _count`);
  }
}

/**
 * The value of the one sample of `name` whose labels include `labels`, 0 if there is none (a
 * counter not yet moved); throws if several match.
 */
export function sampleValue(
  families: Map<string, MetricFamily>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const matches = [...families.values()].flatMap((f) => f.samples).filter((s) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  );
  if (matches.length > 1) throw new Error(`${matches.length} samples of ${name} match`);
  return matches[0]?.value ?? 0;
}
