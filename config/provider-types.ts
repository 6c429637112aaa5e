/** The kinds of provider the config can name; each has an adapter factory per runtime. */
export const providerTypes = ['openai', 'anthropic', 'openai-compatible'] as const
export type ProviderType = (typeof providerTypes)[number]
