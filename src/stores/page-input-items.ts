/**
 * One page of a stored response's input items, as `GET /v1/responses/{id}/input_items` answers it: in the input's
 * order (`asc`) or the reverse (`desc`), starting after the item named by `after` (its first copy, in that order),
 * at most `limit` items. Every backend reads the input whole and pages it here, so they cannot page differently.
 *
 * An empty page (`after` names the last item) has `first_id` and `last_id` `null`. The OpenAPI document types both as
 * required strings, but the API answers `null` for an empty list here as on its other lists (files, vector stores,
 * conversation items), which is why hand-written clients read them as optional (async-openai's `ResponseItemList`,
 * since its PR #496) and the official SDKs' pages never read them.
 */
import { invalidRequest } from '../core/errors.ts'
import type { InputItemsPage, InputItemsQuery, ResponseItem } from './response-store.ts'
import { validateInputItemsQuery } from './validate-response-input.ts'

export const pageInputItems = (
  input: readonly ResponseItem[],
  query: InputItemsQuery
): InputItemsPage => {
  validateInputItemsQuery(query)
  const ordered = query.order === 'asc' ? input : [...input].reverse()
  let start = 0
  if (query.after !== undefined) {
    const index = ordered.findIndex((item) => item.id === query.after)
    if (index === -1)
      throw invalidRequest(`No input item with id '${query.after}' in this response.`, 'after')
    start = index + 1
  }
  const data = ordered.slice(start, start + query.limit)
  const idOf = (item: ResponseItem | undefined): string | null =>
    typeof item?.id === 'string' ? item.id : null
  return {
    object: 'list',
    data,
    first_id: idOf(data[0]),
    last_id: idOf(data.at(-1)),
    has_more: start + data.length < ordered.length,
  }
}
