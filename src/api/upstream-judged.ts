import { z } from '@hono/zod-openapi'

type OpenAPIMetadata = NonNullable<Parameters<z.ZodUnknown['openapi']>[1]>

/**
 * A request field the gateway does not read: it accepts any value, because a forwarded request must not be stricter
 * than the upstream that judges it (and a converted one is judged by its converter, which names the field it cannot
 * convert), yet `/openapi.json` still describes it as `shape`. Built once, at module load.
 */
export const upstreamJudged = (shape: z.ZodType): z.ZodOptional<z.ZodUnknown> =>
  z
    .unknown()
    .optional()
    .openapi(z.toJSONSchema(shape, { target: 'openapi-3.0' }) as OpenAPIMetadata)
