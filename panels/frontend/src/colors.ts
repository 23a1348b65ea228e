// Run colours: Paul Tol's colour-blind-safe "vibrant" palette (the one TensorBoard's Polymer UI
// cycles through), extended with Tol's "muted" hues for larger selections. A run keeps its colour
// across reloads: the index is its position among the project's runs by id (discovery order, which
// never changes), and a user's choice (saved with their dashboard) always wins.

export const PALETTE = [
  "#ff7043", "#0077bb", "#cc3311", "#33bbee", "#ee3377", "#009988",
  "#882255", "#117733", "#999933", "#aa4499", "#44aa99", "#ddaa33", "#332288", "#bbbbbb",
];

export function colorFor(index: number): string {
  return PALETTE[((index % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

export function withAlpha(hex: string, alpha: number): string {
  const m = /^#([0-9a-f]{6})$/i.exec(hex);
  if (!m) return hex;
  const n = parseInt(m[1], 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

/** Mixes a colour towards white (t=1 → white). */
export function lighten(hex: string, t: number): string {
  const m = /^#([0-9a-f]{6})$/i.exec(hex);
  if (!m) return hex;
  const n = parseInt(m[1], 16);
  const mix = (c: number) => Math.round(c + (255 - c) * t);
  return `rgb(${mix((n >> 16) & 255)},${mix((n >> 8) & 255)},${mix(n & 255)})`;
}

export function darken(hex: string, t: number): string {
  const m = /^#([0-9a-f]{6})$/i.exec(hex);
  if (!m) return hex;
  const n = parseInt(m[1], 16);
  const mix = (c: number) => Math.round(c * (1 - t));
  return `rgb(${mix((n >> 16) & 255)},${mix((n >> 8) & 255)},${mix(n & 255)})`;
}
