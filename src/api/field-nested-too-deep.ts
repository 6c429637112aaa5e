/**
 * Deepest nesting of objects and arrays a request body may have, the body itself counting as one level:
 * serde_json's default recursion limit, so nothing deeper than Rust-based OpenAI-compatible servers accept, and far
 * beyond real requests (a tool schema ten levels deep, the most OpenAI's structured outputs take, nests about 25).
 * https://docs.rs/serde_json/latest/serde_json/struct.Deserializer.html#method.disable_recursion_limit
 */
export const maxJsonDepth = 128

/** Whether `value` holds objects or arrays more than `levels` deep; recursion stops at `levels`, whatever the input. */
const nestsDeeperThan = (value: unknown, levels: number): boolean => {
  if (typeof value !== 'object' || value === null) return false
  if (levels === 0) return true
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      if (nestsDeeperThan(value[index], levels - 1)) return true
    }
    return false
  }
  for (const key in value) {
    if (nestsDeeperThan((value as Record<string, unknown>)[key], levels - 1)) return true
  }
  return false
}

/**
 * The top-level field of a parsed JSON body that nests deeper than `maxDepth` levels (the body is level 1), or null.
 * A walk of the parsed value, not a scan of the text: it visits containers and values, not characters, so a 32 KB
 * chat request costs about 1 µs (a text scan that skips strings cost 3 to 40 µs, more where strings hold code).
 */
export const fieldNestedTooDeep = (
  body: Record<string, unknown>,
  maxDepth: number = maxJsonDepth
): string | null => {
  for (const key in body) {
    if (nestsDeeperThan(body[key], maxDepth - 1)) return key
  }
  return null
}
