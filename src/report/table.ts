// Plain-text tables for the human output: columns padded to their widest cell, two spaces apart.

/** The header and the rows as aligned lines (trailing spaces trimmed). Pure. */
export function alignColumns(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const fmt = (row: readonly string[]) =>
    row
      .map((c, i) => c.padEnd(w[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [fmt(head), ...rows.map(fmt)];
}
