/** FNV-1a, 32 bits, over the UTF-16 code units of `text`; another `seed` gives an independent hash. Not for anything secret. */
export function fnv1a(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
