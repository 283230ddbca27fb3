// A small seeded generator (mulberry32): the chaos run's choices repeat with CHAOS_SEED. The
// pages carry a copy of the same few lines (chaos.mjs, setUpPage), since functions sent to a page
// cannot import.

/** Returns a function giving numbers in [0, 1) from the 32-bit `seed`. */
export function createRng(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
