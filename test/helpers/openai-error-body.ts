/** OpenAI's error body, `{error:{message,type,param,code}}`; `param` and `code` are required keys, null when not applicable. */
export const openAIErrorBody = (error: {
  message: string
  type: string
  param?: string | null
  code?: string | null
}) => ({
  error: {
    message: error.message,
    type: error.type,
    param: error.param ?? null,
    code: error.code ?? null,
  },
})
