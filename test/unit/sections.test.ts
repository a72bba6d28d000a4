// markedSections: the one parser of marker-split probe output (facts, kha status, node status).
import { describe, expect, it } from 'vitest';
import { markedSections } from '../../src/facts/sections.js';

const M = '@@m@@';

describe('markedSections', () => {
  it.each([
    { name: 'no marker: nothing', out: 'a\nb', want: [] },
    { name: 'lines before the first marker are dropped', out: `junk\n${M}a\n1\n2`, want: [['a', ['1', '2']]] },
    {
      name: 'empty lines are kept, the last one too',
      out: `${M}a\n1\n\n${M}b\n`,
      want: [
        ['a', ['1', '']],
        ['b', ['']],
      ],
    },
    {
      name: 'a name that comes twice keeps its last section',
      out: `${M}a\n1\n${M}b\n2\n${M}a\n3`,
      want: [
        ['a', ['3']],
        ['b', ['2']],
      ],
    },
    { name: 'names are taken as written', out: `${M}a \n1`, want: [['a ', ['1']]] },
    { name: 'a marker later in a line is not a marker', out: `${M}a\nx${M}b`, want: [['a', [`x${M}b`]]] },
  ])('$name', ({ out, want }) => {
    expect([...markedSections(out, M)]).toEqual(want);
  });
});
