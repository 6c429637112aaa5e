/**
 * A response header's value made from text the gateway does not choose (a model name as the client or the upstream
 * wrote it, a client's tool names): as it is when every character is printable ASCII, as nearly always; otherwise
 * with each other character percent-encoded as its UTF-8 bytes (`%C5%91`, `%0A`). Node refuses to write a header
 * with a control character or one above U+00FF (`ERR_INVALID_CHAR`), and Workers' `Headers` a character above
 * U+00FF: a model named `gpt-ő` or `gpt-4o-mini\n`, which a lenient upstream serves, made the response a 500 after
 * the upstream had answered, and a stream's never reported its end (no usage event, its quota held).
 */
const printableAscii = /^[\x20-\x7e]*$/

const notPrintableAscii = /[^\x20-\x7e]+/g

/** A lone surrogate has no UTF-8 bytes (`encodeURIComponent` throws on one): U+FFFD stands for it. */
const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

export const headerSafe = (value: string): string =>
  printableAscii.test(value)
    ? value
    : value.replace(notPrintableAscii, (run) =>
        encodeURIComponent(run.replace(loneSurrogate, '\ufffd'))
      )
