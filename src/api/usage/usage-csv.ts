/**
 * Usage rows as CSV (RFC 4180): the header is the rows' field names, as in the JSON, so a spreadsheet and a script
 * read the same columns. An unknown value (`null`) is an empty cell, never 0.
 *
 * A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`: spreadsheets run
 * such a cell as a formula, and user ids and model names come from clients
 * (https://owasp.org/www-community/attacks/CSV_Injection). Numbers are written as they are.
 */

export type CsvValue = string | number | null | undefined

const formulaStart = /^[=+\-@\t\r]/

const cell = (value: CsvValue): string => {
  if (value === null || value === undefined) return ''
  if (typeof value === 'number') return String(value)
  const text = formulaStart.test(value) ? `'${value}` : value
  return /[",\r\n]/.test(text) || text !== value ? `"${text.replaceAll('"', '""')}"` : text
}

export const toUsageCsv = (
  fields: readonly string[],
  rows: readonly Readonly<Record<string, CsvValue>>[]
): string =>
  [fields.join(','), ...rows.map((row) => fields.map((field) => cell(row[field])).join(','))]
    .map((line) => `${line}\r\n`)
    .join('')
