// Split a command line into words as Ansible does with ansible_ssh_common_args (Python's
// shlex.split, POSIX mode): blanks separate words; '...' is literal; in "..." a backslash escapes
// only " and \; outside quotes it escapes any character; `#` is an ordinary character. The inverse
// of quote() in quote.ts. Pure.

export type ShellWords = { ok: true; words: string[] } | { ok: false; message: string };

export function shellWords(text: string): ShellWords {
  const words: string[] = [];
  let word = '';
  /** a word has started (an empty '' or "" is a word) */
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return { ok: false, message: `the single quote at character ${i + 1} is never closed` };
      word += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && (text[j + 1] === '"' || text[j + 1] === '\\')) j++;
        word += text[j];
      }
      if (j >= text.length) return { ok: false, message: `the double quote at character ${i + 1} is never closed` };
      inWord = true;
      i = j + 1;
    } else if (c === '\\') {
      if (i + 1 >= text.length) return { ok: false, message: 'it ends with a lone backslash' };
      word += text[i + 1];
      inWord = true;
      i += 2;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return { ok: true, words };
}
