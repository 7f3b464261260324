/**
 * A strict reader of Prometheus' text exposition format (version 0.0.4), for
 * checking the files dlr writes: it throws on the first line the format does
 * not allow, on a sample whose metric has no HELP or TYPE before it, on a
 * metric whose samples are not together, and on a duplicate series.
 */
export interface Exposition {
  readonly samples: ReadonlyArray<{ readonly name: string; readonly labels: Readonly<Record<string, string>>; readonly value: number }>;
  readonly types: ReadonlyMap<string, string>;
  /** The value of the series with exactly these labels; undefined when there is none. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL_NAME = '[a-zA-Z_][a-zA-Z0-9_]*';
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const FLOAT = '(?:[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?|NaN|[+-]Inf)';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL_NAME}=${LABEL_VALUE})(?:,${LABEL_NAME}=${LABEL_VALUE})*,?)?\\})? (${FLOAT})(?: (-?\\d+))?$`);
const LABEL = new RegExp(`(${LABEL_NAME})=(${LABEL_VALUE})`, 'g');
const HELP = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);

export function parseExposition(text: string): Exposition {
  if (!text.endsWith('\n')) throw new Error('the file does not end with a line feed');
  const help = new Set<string>();
  const types = new Map<string, string>();
  const finished = new Set<string>();
  const series = new Set<string>();
  const samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  let current: string | undefined;
  text
    .slice(0, -1)
    .split('\n')
    .forEach((line, i) => {
      const where = `line ${i + 1} ${JSON.stringify(line)}`;
      if (line === '') return;
      if (line.startsWith('#')) {
        const h = HELP.exec(line);
        const t = TYPE.exec(line);
        const name = h?.[1] ?? t?.[1];
        if (name !== undefined) {
          if (finished.has(name) || current === name) throw new Error(`${where}: HELP/TYPE after the samples of ${name}`);
          if (h) {
            if (help.has(name)) throw new Error(`${where}: second HELP for ${name}`);
            if (/\\(?![\\n])/.test(h[2]!)) throw new Error(`${where}: bad escape in HELP`);
            help.add(name);
          } else {
            if (types.has(name)) throw new Error(`${where}: second TYPE for ${name}`);
            types.set(name, t![2]!);
          }
        } else if (/^# (HELP|TYPE)/.test(line)) {
          throw new Error(`${where}: malformed HELP/TYPE`);
        }
        return;
      }
      const m = SAMPLE.exec(line);
      if (!m) throw new Error(`${where}: not a sample line`);
      const name = m[1]!;
      if (!help.has(name) || !types.has(name)) throw new Error(`${where}: ${name} has no HELP and TYPE before its samples`);
      if (current !== name) {
        if (finished.has(name)) throw new Error(`${where}: samples of ${name} are not together`);
        if (current !== undefined) finished.add(current);
        current = name;
      }
      const labels: Record<string, string> = {};
      for (const [, key, quoted] of (m[2] ?? '').matchAll(LABEL)) {
        if (Object.hasOwn(labels, key!)) throw new Error(`${where}: label ${key} twice`);
        labels[key!] = quoted!.slice(1, -1).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
      const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
      if (series.has(key)) throw new Error(`${where}: duplicate series`);
      series.add(key);
      const raw = m[3]!;
      const value = raw === 'NaN' ? Number.NaN : raw.endsWith('Inf') ? (raw.startsWith('-') ? -Infinity : Infinity) : Number(raw);
      samples.push({ name, labels, value });
    });
  for (const name of [...help, ...types.keys()]) {
    if (!samples.some((s) => s.name === name)) continue;
    if (!help.has(name) || !types.has(name)) throw new Error(`${name} lacks HELP or TYPE`);
  }
  return {
    samples,
    types,
    value(name, want = {}) {
      const wanted = JSON.stringify(Object.entries(want).sort());
      return samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === wanted)?.value;
    },
  };
}
