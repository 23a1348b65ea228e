// TensorBoard's "asciinumeric" order (vz_sorting/sorting.ts): digit runs compare as numbers
// (with decimals and exponents) and `/`, `_` and digits sort before any other character, so
// `a2 < a10` and `a/a < a+/a`.

function isDigit(c: string): boolean {
  return c >= "0" && c <= "9";
}

function isBreak(c: string): boolean {
  return c === "/" || c === "_" || isDigit(c);
}

function consumeNumber(s: string, i: number): number {
  const NATURAL = 0, REAL = 1, EXP_SIGN = 2, EXP = 3;
  let state = NATURAL;
  for (; i < s.length; i++) {
    const c = s[i];
    if (state === NATURAL) {
      if (c === ".") state = REAL;
      else if (c === "e" || c === "E") state = EXP_SIGN;
      else if (!isDigit(c)) break;
    } else if (state === REAL) {
      if (c === "e" || c === "E") state = EXP_SIGN;
      else if (!isDigit(c)) break;
    } else if (state === EXP_SIGN) {
      if (isDigit(c) || c === "+" || c === "-") state = EXP;
      else break;
    } else if (!isDigit(c)) break;
  }
  return i;
}

export function compareTagNames(a: string, b: string): number {
  let ai = 0;
  let bi = 0;
  for (;;) {
    if (ai === a.length) return bi === b.length ? 0 : -1;
    if (bi === b.length) return 1;
    if (isDigit(a[ai]) && isDigit(b[bi])) {
      const as = ai;
      const bs = bi;
      ai = consumeNumber(a, ai + 1);
      bi = consumeNumber(b, bi + 1);
      const an = parseFloat(a.slice(as, ai));
      const bn = parseFloat(b.slice(bs, bi));
      if (an < bn) return -1;
      if (an > bn) return 1;
      continue;
    }
    if (isBreak(a[ai])) {
      if (!isBreak(b[bi])) return -1;
    } else if (isBreak(b[bi])) {
      return 1;
    } else if (a[ai] < b[bi]) {
      return -1;
    } else if (a[ai] > b[bi]) {
      return 1;
    }
    ai++;
    bi++;
  }
}

export function sortTags(tags: Iterable<string>): string[] {
  return [...tags].sort(compareTagNames);
}

/** Tags grouped by the part before the first `/` (a tag without `/` is its own group), groups
 * in the order of their first tag, tags asciinumerically sorted. Full tag names are kept. */
export function groupTags(tags: Iterable<string>): { name: string; tags: string[] }[] {
  const groups = new Map<string, string[]>();
  for (const t of sortTags(tags)) {
    const i = t.indexOf("/");
    const g = i >= 0 ? t.slice(0, i) : t;
    let list = groups.get(g);
    if (!list) groups.set(g, (list = []));
    list.push(t);
  }
  return [...groups.entries()].map(([name, tags]) => ({ name, tags }));
}
