/**
 * A string's size in bytes as V8 holds it: one byte per character for Latin-1 text, two otherwise (counted as two
 * whenever any character is beyond Latin-1, which is what V8 does for the whole string). What the in-process caches
 * (the memory cache store, the Redis store's memo) count against their bounds.
 */
export const textBytes = (value: string): number =>
  // eslint-disable-next-line no-control-regex
  /^[\u0000-\u00ff]*$/.test(value) ? value.length : value.length * 2
