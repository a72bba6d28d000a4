// One script, many answers: a probe script prints `<mark><name>` before each part of its output,
// and the parser splits there. Used by fact gathering, kha status and the node-proxy status.

/**
 * Pure: section name -> its lines, up to the next marker line (`<mark><name>`). Lines before the
 * first marker are dropped; a name that comes twice keeps its last section.
 */
export function markedSections(out: string, mark: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let cur: string[] = [];
  for (const l of out.split('\n')) {
    if (l.startsWith(mark)) sections.set(l.slice(mark.length), (cur = []));
    else cur.push(l);
  }
  return sections;
}
