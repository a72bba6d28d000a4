// blockinfile: keep one marked block in a file the operator also edits (/etc/hosts), as Ansible's
// blockinfile does. Lines outside the markers are never touched. The plan compares the whole
// resulting text with the file; apply re-reads the file (so an edit made since the plan is kept),
// uploads the new text to a temp file beside it (same mode and owner), checks it, and renames it
// into place. When rename(2) cannot replace the file (Docker bind-mounts /etc/hosts into every
// container: EBUSY), the checked text is written in place instead (`cat tmp > file`).
import { posix } from 'node:path';
import { defineModule } from '../engine/plan-tasks.js';
import type { HostContext } from '../engine/types.js';
import { TaskFailed } from '../errors.js';
import { quote, quoteArgv } from '../transport/quote.js';
import type { ExecResult } from '../transport/types.js';
import { lastLines, must, randomSuffix } from './util.js';
import { parseProbe, probeScript, sha256 } from './template.js';

export const BEGIN_MARKER = '# BEGIN kha managed block';
export const END_MARKER = '# END kha managed block';

export interface Markers {
  begin: string;
  end: string;
}

export interface BlockInFileParams {
  path: string;
  /** the lines between the markers; '' removes the block and its markers */
  block: string;
  /** default BEGIN_MARKER / END_MARKER */
  markers?: Markers;
  /** a missing file is created with these (default 0644 root:root); an existing file keeps its own */
  mode?: number;
  owner?: string;
  group?: string;
  /** argv of a validator; '%s' is the temp file */
  validate?: string[];
}

/** A file whose markers do not pair up: kha will not guess where its block ends. */
export class MarkerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MarkerError';
  }
}

const isMarker = (line: string, marker: string) => line.replace(/[ \t\r]+$/, '') === marker;

/**
 * The text with exactly one block holding `block` (or none when `block` is empty). Pure.
 * - every complete BEGIN..END block is removed; the new one goes where the first one was, or at
 *   the end (after a newline is added to a last line that had none);
 * - a BEGIN without END, an END without BEGIN or a BEGIN inside a block throws MarkerError;
 * - the file ends with a newline when it did, or when it ends with the block.
 */
export function replaceBlock(text: string, block: string, markers: Markers = { begin: BEGIN_MARKER, end: END_MARKER }): string {
  if (markers.begin === markers.end) throw new MarkerError('the begin and end markers must differ');
  const endsNl = text.endsWith('\n');
  const lines = text === '' ? [] : (endsNl ? text.slice(0, -1) : text).split('\n');
  const body = block.replace(/\n+$/, '');
  const inner = body === '' ? [] : body.split('\n');
  for (const l of inner) {
    if (isMarker(l, markers.begin) || isMarker(l, markers.end)) throw new MarkerError('the block itself holds a marker line');
  }
  const fresh = inner.length ? [markers.begin, ...inner, markers.end] : [];

  const out: string[] = [];
  let open = -1;
  let placed = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (isMarker(l, markers.begin)) {
      if (open >= 0)
        throw new MarkerError(`line ${i + 1}: "${markers.begin}" again before the "${markers.end}" of line ${open + 1}'s block; fix the markers by hand`);
      open = i;
      continue;
    }
    if (isMarker(l, markers.end)) {
      if (open < 0) throw new MarkerError(`line ${i + 1}: "${markers.end}" without a "${markers.begin}" before it; fix the markers by hand`);
      open = -1;
      if (!placed) out.push(...fresh);
      placed = true;
      continue;
    }
    if (open < 0) out.push(l);
  }
  if (open >= 0) throw new MarkerError(`line ${open + 1}: "${markers.begin}" without a "${markers.end}" after it; fix the markers by hand`);
  if (!placed) {
    if (fresh.length === 0) return text;
    return `${text}${text !== '' && !endsNl ? '\n' : ''}${fresh.join('\n')}\n`;
  }
  if (out.length === 0) return '';
  // every other marker line was dropped: an END line left in `out` is the new block's
  const endsWithBlock = out[out.length - 1] === markers.end;
  return `${out.join('\n')}${endsNl || endsWithBlock ? '\n' : ''}`;
}

/**
 * Install `tmp` as `path` after checking it holds exactly `want` (sha256): rename, or when rename
 * fails (a bind-mounted file: EBUSY), write in place and check again. Prints how it was done.
 */
export function installInPlaceScript(tmp: string, path: string, want: string): string {
  const t = quote(tmp);
  const p = quote(path);
  return [
    `if [ "$(sha256sum < ${t} | cut -d' ' -f1)" != ${want} ]; then rm -f -- ${t}; echo 'the temp file does not hold the new content' >&2; exit 1; fi`,
    // keep the SELinux label of the file being replaced (where there is SELinux)
    `if [ -e ${p} ] && command -v chcon >/dev/null 2>&1; then chcon --reference=${p} -- ${t} 2>/dev/null || true; fi`,
    `if mv -f -- ${t} ${p} 2>/dev/null; then echo renamed; exit 0; fi`,
    // rename(2) onto a bind mount (Docker's /etc/hosts) fails with EBUSY: same content, in place
    `if cat -- ${t} > ${p}; then rm -f -- ${t}; else rm -f -- ${t}; exit 1; fi`,
    `if [ "$(sha256sum < ${p} | cut -d' ' -f1)" != ${want} ]; then echo 'writing in place did not give the new content' >&2; exit 1; fi`,
    'echo in-place',
  ].join('\n');
}

/** The file as probed (stat, hash, content); a failed read or a non-file is the task's failure. Pure. */
function current(path: string, r: ExecResult | undefined): ReturnType<typeof parseProbe> {
  if (r?.code !== 0) throw new TaskFailed(`cannot read ${path} (exit ${r?.code ?? null})`, lastLines(r?.stderr ?? '', 5));
  const cur = parseProbe(r.stdout);
  if (cur.exists && cur.type !== 'file') throw new TaskFailed(`${path} exists and is not a regular file`);
  return cur;
}

function replaced(p: BlockInFileParams, text: string): string {
  try {
    return replaceBlock(text, p.block, p.markers);
  } catch (err) {
    if (err instanceof MarkerError) throw new TaskFailed(`${p.path}: ${err.message}`);
    throw err;
  }
}

/** Read the file again (an operator's edit since the plan is kept), then upload, check and install. */
async function install(ctx: HostContext, p: BlockInFileParams): Promise<void> {
  const now = current(p.path, await ctx.conn.exec({ script: probeScript(p.path, true) }, { become: true }));
  const nowText = now.exists ? (now.content ?? '') : '';
  const content = replaced(p, nowText);
  if (now.exists && content === nowText) return;
  const dir = posix.dirname(p.path);
  const tmp = posix.join(dir, `.${posix.basename(p.path)}.kha-${randomSuffix()}`);
  const owner = now.exists && now.owner && now.owner !== 'UNKNOWN' ? now.owner : (p.owner ?? 'root');
  const group = now.exists && now.group && now.group !== 'UNKNOWN' ? now.group : (p.group ?? 'root');
  const mode = now.exists && now.mode !== undefined ? now.mode : (p.mode ?? 0o644);
  await ctx.conn.upload(content, tmp, { mode, owner, group, exclusive: true });
  try {
    if (p.validate) {
      const argv = p.validate.map((a) => (a === '%s' ? tmp : a));
      const v = await ctx.conn.exec({ argv }, { become: true, timeoutMs: 60_000 });
      if (v.code !== 0) {
        throw new TaskFailed(
          `${p.path}: the new content was rejected by \`${quoteArgv(p.validate)}\` (exit ${v.code}); the file is untouched`,
          lastLines(`${v.stdout}\n${v.stderr}`, 10),
        );
      }
    }
  } catch (err) {
    await ctx.conn.exec({ script: `rm -f -- ${quote(tmp)}` }, { become: true }).catch(() => undefined);
    throw err;
  }
  await must(ctx.conn, { script: installInPlaceScript(tmp, p.path, sha256(content)) }, `install ${p.path}`);
}

export const blockInFileModule = defineModule<BlockInFileParams>({
  name: 'blockinfile',
  describe: (p) => `${p.block === '' ? 'remove the kha block from' : 'kha block in'} ${p.path}`,
  // the whole file: the decision compares the text with the block in place with the text as it is
  probe(p) {
    if (!p.path.startsWith('/')) throw new TaskFailed(`path ${p.path} must be absolute`);
    return { cmd: { script: probeScript(p.path, true) }, become: true };
  },
  decide([r], p) {
    const cur = current(p.path, r);
    const text = cur.exists ? (cur.content ?? '') : '';
    const want = replaced(p, text);
    if (!cur.exists && p.block === '') return { change: false, why: 'file absent, no block wanted' };
    if (cur.exists && want === text) return { change: false, why: p.block === '' ? 'no block' : `block unchanged (sha256 ${sha256(want).slice(0, 12)})` };
    return {
      change: true,
      why: !cur.exists ? 'missing' : p.block === '' ? 'block present' : text.includes(p.markers?.begin ?? BEGIN_MARKER) ? 'block differs' : 'no block yet',
      diff: { path: p.path, before: cur.exists ? text : null, after: want },
      apply: (ctx) => install(ctx, p),
    };
  },
});
