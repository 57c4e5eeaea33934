/** A selector that does not follow Calico's grammar; `position` is the 0-based offset of the fault in `selector`. */
export class SelectorParseError extends Error {
  constructor(
    readonly selector: string,
    readonly position: number,
    problem: string,
  ) {
    super(`selector ${JSON.stringify(selector)}: ${problem}`);
    this.name = 'SelectorParseError';
  }
}

/** The standard wording of a fault: what was found where, and what the grammar wanted instead. */
export function unexpected(selector: string, position: number, found: string, expected: string): SelectorParseError {
  return new SelectorParseError(
    selector,
    position,
    `unexpected ${found} at position ${position}; expected ${expected}`,
  );
}
