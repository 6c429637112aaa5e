/**
 * A plain-text table: a header row, then one line per row, columns padded to their widest cell and separated by two
 * spaces. Numbers are right-aligned, so digits line up. No colours and no box drawing, so it pipes into `grep` and
 * `awk` as it is.
 */
export type TableCell = string | number | null | undefined

const text = (cell: TableCell): string => (cell === null || cell === undefined ? '-' : String(cell))

export const formatTable = (headers: readonly string[], rows: readonly TableCell[][]): string => {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => text(row[column]).length))
  )
  const numeric = headers.map(
    (_, column) =>
      rows.length > 0 &&
      rows.every((row) => typeof row[column] === 'number' || row[column] === null)
  )
  const line = (cells: readonly TableCell[]): string =>
    cells
      .map((cell, column) =>
        numeric[column] ? text(cell).padStart(widths[column]) : text(cell).padEnd(widths[column])
      )
      .join('  ')
      .trimEnd()
  return [line(headers), ...rows.map(line)].join('\n') + '\n'
}
