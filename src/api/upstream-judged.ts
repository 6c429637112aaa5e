import { z } from '@hono/zod-openapi'

type OpenAPIMetadata = NonNullable<Parameters<z.ZodUnknown['openapi']>[1]>

/**
 * A request field the gateway does not read: it accepts any value, because a forwarded request must not be stricter
 * than the upstream that judges it (and a converted one is judged by its converter, which names the field it cannot
 * convert), yet `/openapi.json` still describes it as `shape`. Built once, at module load.
 */
export const upstreamJudged = (shape: z.ZodType): z.ZodOptional<z.ZodUnknown> => {
  // The document is OpenAPI 3.1, whose schemas are JSON Schema 2020-12 (`null` as a type, not 3.0's `nullable`).
  const { $schema: _dialect, ...schema } = z.toJSONSchema(shape, { target: 'draft-2020-12' })
  return z
    .unknown()
    .optional()
    .openapi(schema as OpenAPIMetadata)
}
