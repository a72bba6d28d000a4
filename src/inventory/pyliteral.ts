// Python's ast.literal_eval, as far as Ansible's INI inventory uses it: every value written in an
// INI inventory (`key=value` on a host line or in a [group:vars] section) goes through it, and
// whatever it does not accept stays the text as written. So `2222` is a number, `True` a boolean,
// `'03'` the string 03, `[1, 2]` a list, and `true`, `10.0.0.1` or `master-01` stay strings.
//
// Accepted: integers (decimal, 0x/0o/0b, `_` between digits), floats, strings with Python's
// quotes, prefixes and escapes (adjacent strings join), True/False/None, lists, tuples, sets
// and dicts of those, unary + and -, a comment after the value, and a bare `a, b` tuple.
// Tuples and sets become lists and bytes become text, as Ansible converts them. Not handled
// (left as the text, which is also what Ansible ends up with or close to it): complex numbers,
// `\N{name}` escapes, and integers beyond 2^53 (kept as text rather than rounded).

export type LiteralResult = { ok: true; value: unknown } | { ok: false };

const MAX_NESTING = 100;

class NotALiteral extends Error {}

/** The value of `text` as Python's ast.literal_eval would give it (after Ansible's conversions). */
export function literalEval(text: string): LiteralResult {
  // Python 3.10+ strips leading spaces and tabs before parsing
  const p = new Parser(text.replace(/^[ \t]+/, ''));
  try {
    p.skip();
    if (p.atEnd()) return { ok: false };
    const first = p.value(0);
    p.skip();
    if (p.atEnd()) return { ok: true, value: first };
    // `a, b` at the top level is a tuple
    const items = [first];
    while (p.eat(',')) {
      p.skip();
      if (p.atEnd()) break;
      items.push(p.value(0));
      p.skip();
    }
    if (!p.atEnd()) return { ok: false };
    return { ok: true, value: items };
  } catch (err) {
    if (err instanceof NotALiteral) return { ok: false };
    throw err;
  }
}

const fail = (): never => {
  throw new NotALiteral();
};

class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  atEnd(): boolean {
    return this.i >= this.s.length;
  }

  /** whitespace (newlines too: brackets may span lines) and `#` comments */
  skip(): void {
    for (;;) {
      const c = this.s[this.i];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') this.i++;
      else if (c === '\\' && (this.s[this.i + 1] === '\n' || this.s[this.i + 1] === '\r')) this.i += 2;
      else if (c === '#') {
        while (this.i < this.s.length && this.s[this.i] !== '\n') this.i++;
      } else return;
    }
  }

  eat(c: string): boolean {
    this.skip();
    if (this.s[this.i] !== c) return false;
    this.i++;
    return true;
  }

  value(depth: number): unknown {
    if (depth > MAX_NESTING) fail();
    this.skip();
    const c = this.s[this.i];
    if (c === undefined) return fail();
    if (c === '[') return this.sequence(']', depth);
    if (c === '(') return this.parenthesized(depth);
    if (c === '{') return this.braces(depth);
    if (c === '+' || c === '-') return this.signed();
    if (/[0-9.]/.test(c)) return this.number();
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.s.slice(this.i))?.[0] ?? '';
    const quote = this.s[this.i + word.length];
    if ((quote === '"' || quote === "'") && /^(?:[rRuUbB]|[bB][rR]|[rR][bB])?$/.test(word)) return this.strings();
    if (word === 'True' || word === 'False' || word === 'None') {
      this.i += word.length;
      return word === 'True' ? true : word === 'False' ? false : null;
    }
    return fail();
  }

  /** `[a, b]` (and the inside of a tuple) */
  private sequence(close: string, depth: number): unknown[] {
    this.i++;
    const out: unknown[] = [];
    for (;;) {
      if (this.eat(close)) return out;
      out.push(this.value(depth + 1));
      if (this.eat(close)) return out;
      if (!this.eat(',')) fail();
    }
  }

  /** `()`, `(a,)`, `(a, b)`: a tuple; `(a)`: a */
  private parenthesized(depth: number): unknown {
    this.i++;
    if (this.eat(')')) return [];
    const first = this.value(depth + 1);
    if (this.eat(')')) return first;
    if (!this.eat(',')) fail();
    const out = [first];
    for (;;) {
      if (this.eat(')')) return out;
      out.push(this.value(depth + 1));
      if (this.eat(')')) return out;
      if (!this.eat(',')) fail();
    }
  }

  /** `{}` and `{k: v}` are dicts, `{a, b}` a set (a list, without repeats) */
  private braces(depth: number): unknown {
    this.i++;
    if (this.eat('}')) return {};
    const first = this.value(depth + 1);
    if (this.eat(':')) {
      const dict: Record<string, unknown> = {};
      let key = first;
      for (;;) {
        if (key !== null && typeof key === 'object') fail();
        const k = key === null ? 'None' : key === true ? 'True' : key === false ? 'False' : String(key);
        if (k === '__proto__') fail();
        dict[k] = this.value(depth + 1);
        if (this.eat('}')) return dict;
        if (!this.eat(',')) fail();
        if (this.eat('}')) return dict;
        key = this.value(depth + 1);
        if (!this.eat(':')) fail();
      }
    }
    const set: unknown[] = [first];
    for (;;) {
      if (this.eat('}')) return set;
      if (!this.eat(',')) fail();
      if (this.eat('}')) return set;
      const v = this.value(depth + 1);
      if (typeof v === 'object' && v !== null) fail();
      if (!set.includes(v)) set.push(v);
    }
  }

  private signed(): number | string {
    let negative = false;
    while (this.s[this.i] === '+' || this.s[this.i] === '-') {
      if (this.s[this.i] === '-') negative = !negative;
      this.i++;
      this.skip();
    }
    const n = this.number();
    if (typeof n === 'string') return negative ? `-${n}` : n;
    return negative ? -n : n;
  }

  /** an int or float; an integer beyond 2^53 stays its digits (as text), not a rounded number */
  private number(): number | string {
    const rest = this.s.slice(this.i);
    const digits = '[0-9](?:_?[0-9])*';
    const based = /^0(?:[xX](?:_?[0-9a-fA-F])+|[oO](?:_?[0-7])+|[bB](?:_?[01])+)/.exec(rest);
    const float = new RegExp(`^(?:(?:${digits})?\\.${digits}|${digits}\\.?)(?:[eE][+-]?${digits})?`).exec(rest);
    const m = based ?? float;
    if (!m) return fail();
    const text = m[0];
    const after = rest[text.length];
    // `1j` (complex), `1_`, `0x` followed by more word characters: not a literal kha reads
    if (after !== undefined && /[A-Za-z0-9_]/.test(after)) fail();
    this.i += text.length;
    const clean = text.replace(/_/g, '');
    if (based) {
      const n = Number(clean.toLowerCase().replace(/^0o/, '0o'));
      return Number.isSafeInteger(n) ? n : clean;
    }
    if (/[.eE]/.test(clean)) return Number(clean);
    // Python refuses leading zeros in a decimal integer (`01`), except for zero itself (`00`)
    if (/^0+[1-9]/.test(clean)) fail();
    const n = Number(clean);
    return Number.isSafeInteger(n) ? n : clean;
  }

  /** one or more adjacent string literals, joined */
  private strings(): string {
    let out = '';
    let kind: 'text' | 'bytes' | undefined;
    for (;;) {
      this.skip();
      const prefix = /^(?:[rRuUbB]|[bB][rR]|[rR][bB])?(?=["'])/.exec(this.s.slice(this.i))?.[0];
      if (prefix === undefined) break;
      const bytes = /[bB]/.test(prefix);
      // Python refuses to join bytes and text
      if (kind !== undefined && kind !== (bytes ? 'bytes' : 'text')) fail();
      kind = bytes ? 'bytes' : 'text';
      this.i += prefix.length;
      out += this.stringBody(/[rR]/.test(prefix));
    }
    return out;
  }

  private stringBody(raw: boolean): string {
    const q = this.s[this.i]!;
    const triple = this.s.startsWith(q.repeat(3), this.i);
    const close = triple ? q.repeat(3) : q;
    this.i += close.length;
    let out = '';
    for (;;) {
      if (this.i >= this.s.length) fail();
      if (this.s.startsWith(close, this.i)) {
        this.i += close.length;
        return out;
      }
      const c = this.s[this.i]!;
      if (!triple && (c === '\n' || c === '\r')) fail();
      if (c !== '\\') {
        out += c;
        this.i++;
        continue;
      }
      const next = this.s[this.i + 1];
      if (next === undefined) fail();
      if (raw) {
        // a raw string keeps the backslash; it still cannot end with one
        out += c + next;
        this.i += 2;
        continue;
      }
      this.i += 2;
      out += this.escape(next!);
    }
  }

  private escape(e: string): string {
    const simple: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v' };
    if (Object.hasOwn(simple, e)) return simple[e]!;
    if (e === '\n') return '';
    if (e === '\r') {
      if (this.s[this.i] === '\n') this.i++;
      return '';
    }
    if (/[0-7]/.test(e)) {
      const m = /^[0-7]{0,2}/.exec(this.s.slice(this.i))![0];
      this.i += m.length;
      return String.fromCodePoint(parseInt(e + m, 8));
    }
    const hexLen = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    if (hexLen) {
      const h = this.s.slice(this.i, this.i + hexLen);
      if (!new RegExp(`^[0-9a-fA-F]{${hexLen}}$`).test(h)) fail();
      const cp = parseInt(h, 16);
      if (cp > 0x10ffff) fail();
      this.i += hexLen;
      return String.fromCodePoint(cp);
    }
    // \N{NAME} would need Unicode's name table
    if (e === 'N') fail();
    // Python keeps an unknown escape as it is
    return `\\${e}`;
  }
}
