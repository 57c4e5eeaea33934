// Go duration strings ("90s", "1m30s", "1.5h", "300ms"): Calico's metav1.Duration fields are written this way.
// Resources only hold non-negative durations, so the sign Go also accepts is not part of the grammar here.

const MS_PER_UNIT: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 micro sign
  μs: 1e-3, // U+03BC Greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

// Longer units first, so "ms" is not read as "m" followed by garbage.
const UNIT = Object.keys(MS_PER_UNIT)
  .sort((a, b) => b.length - a.length)
  .join('|');
const NUMBER = '(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)';

/** time.ParseDuration's grammar without a sign: "0", or number-unit pairs such as "1h30m" or "1.5s". */
export const GO_DURATION_PATTERN = `^(?:0|(?:${NUMBER}(?:${UNIT}))+)$`;

const COMPONENT = new RegExp(`(${NUMBER})(${UNIT})`, 'y');
const WHOLE = new RegExp(GO_DURATION_PATTERN);

/** The length of a Go duration in milliseconds, or undefined when the text is not one. */
export function parseGoDuration(text: string): number | undefined {
  if (!WHOLE.test(text)) return undefined;
  let total = 0;
  COMPONENT.lastIndex = 0;
  for (let match = COMPONENT.exec(text); match !== null; match = COMPONENT.exec(text)) {
    total += Number(match[1]) * MS_PER_UNIT[match[2]!]!;
  }
  return total;
}
