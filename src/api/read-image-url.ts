/**
 * An image a client gave by URL, as the canonical image part: an http(s) URL as it is, or a base64 data URL split into
 * its media type and data, limited to the types every converted target accepts (Anthropic's list). Shared by the
 * Chat Completions (`image_url.url`) and Responses (`image_url`) converters; `param` is the field's path in a 400,
 * `field` its name in the message.
 */
import type { ImagePart } from '../../providers/spec/chat-types.ts'
import { invalidRequest } from '../core/errors.ts'

const imageMediaTypes = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp'])

export const readImageUrl = (url: unknown, param: string, field: string): ImagePart => {
  const name = `\`${field}\``
  if (typeof url !== 'string') throw invalidRequest(`${name} must be a string.`, param)
  if (!url.startsWith('data:')) {
    if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } }
    throw invalidRequest(`${name} must be an http(s) URL or a base64 data URL.`, param)
  }
  const match = /^data:([^;,]+);base64,(.*)$/s.exec(url)
  if (!match)
    throw invalidRequest(
      'Image data URLs must be base64: `data:<media type>;base64,<data>`.',
      param
    )
  const mediaType = match[1].toLowerCase()
  if (!imageMediaTypes.has(mediaType)) {
    throw invalidRequest(
      `Image type \`${mediaType}\` is not supported by this model's provider; use image/jpeg, image/png, image/gif or image/webp.`,
      param
    )
  }
  return { type: 'image', source: { type: 'base64', mediaType, data: match[2] } }
}
