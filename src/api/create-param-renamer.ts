/**
 * A protocol's `DialectCodec.clientParam`: a canonical parameter name (Chat Completions' names, which adapters use in
 * conversion refusals and omissions) in the protocol's own terms, by a table of names; a name under one (`a.b` under
 * `a`) is renamed with it. A name the table does not hold is the same in both.
 */
export const createParamRenamer =
  (table: Readonly<Record<string, string>>) =>
  (param: string): string => {
    const dot = param.indexOf('.')
    const head = dot === -1 ? param : param.slice(0, dot)
    const renamed = Object.hasOwn(table, head) ? table[head] : undefined
    return renamed === undefined ? param : renamed + (dot === -1 ? '' : param.slice(dot))
  }
