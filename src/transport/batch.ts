// Several read-only commands in one round trip: each part runs as its own `sh -c <quoted>` (stdin
// /dev/null), one after the other, and a marker after each part carries its exit code on stdout
// and ends its stderr. Splitting the output gives back exactly what each part printed, as if it
// had run alone. The nonce keeps a part's output (a file's content) from faking a marker.
// Pure: framing and splitting are tested as data; ssh.ts runs the script.
import { quote, render } from './quote.js';
import type { Command, ExecResult } from './types.js';

const NONCE = /^[A-Za-z0-9]{8,64}$/;

/** The marker lines: `\n@@kha-<nonce>:rc <code>\n` on stdout, `\n@@kha-<nonce>:end\n` on stderr. */
export function batchMarkers(nonce: string): { rc: string; end: string } {
  if (!NONCE.test(nonce)) throw new Error(`batch nonce ${JSON.stringify(nonce)} must be 8..64 letters or digits`);
  return { rc: `@@kha-${nonce}:rc`, end: `@@kha-${nonce}:end` };
}

/** One script that runs every part in order; see splitBatch. */
export function batchScript(parts: readonly Command[], nonce: string): string {
  const m = batchMarkers(nonce);
  return parts.map((c) => `sh -c ${quote(render(c))} </dev/null; r=$?; printf '\\n%s %s\\n' ${m.rc} "$r"; printf '\\n%s\\n' ${m.end} >&2`).join('\n');
}

/**
 * Split the batch's result into one result per part. A part without its marker (the batch was
 * killed, timed out or lost) gets code null and what it printed so far; parts after it get nothing.
 */
export function splitBatch(r: ExecResult, count: number, nonce: string): ExecResult[] {
  const m = batchMarkers(nonce);
  const outs = r.stdout.split(`\n${m.rc} `);
  const errs = r.stderr.split(`\n${m.end}\n`);
  const results: ExecResult[] = [];
  let rest = outs[0] ?? '';
  for (let i = 0; i < count; i++) {
    const stderr = errs[i] ?? '';
    if (i + 1 < outs.length) {
      const next = outs[i + 1]!;
      const nl = next.indexOf('\n');
      const code = Number(next.slice(0, nl < 0 ? undefined : nl));
      results.push({ code: Number.isInteger(code) ? code : null, signal: null, stdout: rest, stderr });
      rest = nl < 0 ? '' : next.slice(nl + 1);
    } else if (i + 1 === outs.length) {
      // the part that was running when the batch ended
      results.push({ code: null, signal: r.signal, stdout: rest, stderr, ...(r.timedOut ? { timedOut: true } : {}) });
      rest = '';
    } else {
      results.push({ code: null, signal: r.signal, stdout: '', stderr: '', ...(r.timedOut ? { timedOut: true } : {}) });
    }
  }
  return results;
}
