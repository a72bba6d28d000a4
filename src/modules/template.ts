// template / copy: content rendered in TypeScript. Unchanged content is no change. A change is
// uploaded to a temp file beside the target, validated there, and renamed into place; the
// previous version stays as <path>.kha-prev so a failed restart can put it back.
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { defineModule } from '../engine/plan-tasks.js';
import type { DiffSpec, HostContext } from '../engine/types.js';
import { TaskFailed } from '../errors.js';
import { quote, quoteArgv } from '../transport/quote.js';
import { lastLines, must, octal, randomSuffix } from './util.js';
import { parseStat } from './file.js';
import { keyedHash, keyedHashScript, redactText, redactedCatScript } from './secret-file.js';
import { fileStatArg } from './probe-groups.js';

export interface TemplateParams {
  path: string;
  content: string;
  mode: number;
  owner?: string;
  group?: string;
  /** argv of a validator; the element '%s' is replaced by the temp file's path */
  validate?: string[];
  /** do not show the content in diffs (it holds a secret the masker may not know) */
  sensitive?: boolean;
  /**
   * A secret-bearing file: the values of these keywords (`auth_pass`) are secrets. The file is
   * compared by a keyed hash on the host and diffed with those values redacted on the host, so
   * neither the current nor an old value ever leaves it (src/modules/secret-file.ts).
   */
  redact?: string[];
}

export const PREV_SUFFIX = '.kha-prev';

export function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export function probeScript(path: string, withContent: boolean, redact?: readonly string[]): string {
  const q = quote(path);
  // sha256sum prints `<hash>  <path>`; parseProbe takes the hash (no `| cut`: one process less per file)
  const hash = redact ? keyedHashScript(path) : `sha256sum -- ${q}`;
  const content = redact ? redactedCatScript(path, redact) : `cat -- ${q}`;
  return `if [ -e ${q} ]; then stat -c '%F|%a|%U|%G' -- ${q}; ${hash};${withContent ? ` echo @@content@@; ${content};` : ''} else echo missing; fi`;
}

export function parseProbe(out: string): { exists: boolean; type?: string; mode?: number; owner?: string; group?: string; hash?: string; content?: string } {
  const [head, content] = out.split('@@content@@\n');
  const lines = (head ?? '').trim().split('\n');
  if (lines[0] === 'missing') return { exists: false };
  const st = parseStat(lines[0] ?? '');
  const hash = lines[1]?.trim().split(/\s/)[0]?.replace(/^\\/, '');
  return { ...st, exists: true, ...(hash ? { hash } : {}), ...(content !== undefined ? { content } : {}) };
}

export function installScript(tmp: string, path: string): string {
  const q = quote(path);
  return `if [ -f ${q} ]; then cp -p -- ${q} ${quote(path + PREV_SUFFIX)}; fi; mv -f -- ${quote(tmp)} ${q}`;
}

/**
 * Create the target's directory and remove temp files an earlier run left beside the target
 * (`.<name>.kha-<16 hex digits>`: a host that died between upload and rename). One run at a time holds
 * the host's lock, so no other run's temp file can be in flight.
 */
export function prepareDirScript(path: string): string {
  const dir = posix.dirname(path);
  return `mkdir -p -- ${quote(dir)} && rm -f -- ${quote(posix.join(dir, `.${posix.basename(path)}.kha-`))}*`;
}

/** The diff of a change; for a secret-bearing file both sides are redacted (the old side on the host). Pure. */
function templateDiff(p: TemplateParams, before: string | null): DiffSpec {
  if (!p.redact) return { path: p.path, before, after: p.content };
  const after = redactText(p.content, p.redact);
  if (before === after) return { text: `=== ${p.path}\n@@ only a secret value (${p.redact.join(', ')}) changed; values are never shown @@` };
  return { path: p.path, before, after };
}

/** Upload beside the target, validate the temp file, keep the previous file, rename into place. */
async function install(ctx: HostContext, p: TemplateParams): Promise<void> {
  const dir = posix.dirname(p.path);
  const tmp = posix.join(dir, `.${posix.basename(p.path)}.kha-${randomSuffix()}`);
  await must(ctx.conn, { script: prepareDirScript(p.path) }, `mkdir ${dir}`);
  await ctx.conn.upload(p.content, tmp, { mode: p.mode, exclusive: true, ...(p.owner ? { owner: p.owner } : {}), ...(p.group ? { group: p.group } : {}) });
  try {
    if (p.validate) {
      const argv = p.validate.map((a) => (a === '%s' ? tmp : a));
      const v = await ctx.conn.exec({ argv }, { become: true, timeoutMs: 60_000 });
      if (v.code !== 0) {
        const out = lastLines(`${v.stdout}\n${v.stderr}`, 10);
        throw new TaskFailed(`${p.path}: the new content was rejected by \`${quoteArgv(p.validate)}\` (exit ${v.code}); the old file is untouched`, out);
      }
    }
    await must(ctx.conn, { script: installScript(tmp, p.path) }, `install ${p.path}`);
  } catch (err) {
    await ctx.conn.exec({ script: `rm -f -- ${quote(tmp)}` }, { become: true }).catch(() => undefined);
    throw err;
  }
}

export const templateModule = defineModule<TemplateParams>({
  name: 'template',
  describe: (p) => `write ${p.path}`,
  // stat and hash (keyed for a secret-bearing file); the content too with --diff (redacted on the host)
  probe(p, ctx) {
    if (!p.path.startsWith('/')) throw new TaskFailed(`path ${p.path} must be absolute`);
    const withContent = ctx.diff && !p.sensitive;
    // the plain stat and hash merge with the other files' (modules/probe-groups.ts); content and keyed hashes go alone
    const group = withContent || p.redact ? undefined : fileStatArg('hash', p.path);
    return { cmd: { script: probeScript(p.path, withContent, p.redact) }, become: true, ...(group ? { group } : {}) };
  },
  decide([r], p) {
    const want = p.redact ? keyedHash(p.content) : sha256(p.content);
    const cur = parseProbe(r?.stdout ?? '');
    if (cur.exists && cur.type !== 'file') throw new TaskFailed(`${p.path} exists and is not a regular file`);
    const why: string[] = [];
    const contentChanged = !cur.exists || cur.hash !== want;
    if (!cur.exists) why.push('missing');
    else if (contentChanged) why.push('content differs');
    if (cur.exists && cur.mode !== p.mode) why.push(`mode ${octal(cur.mode ?? 0)} -> ${octal(p.mode)}`);
    if (cur.exists && p.owner && cur.owner !== p.owner) why.push(`owner ${cur.owner} -> ${p.owner}`);
    if (cur.exists && p.group && cur.group !== p.group) why.push(`group ${cur.group} -> ${p.group}`);
    if (why.length === 0) return { change: false, why: p.redact ? 'content unchanged (keyed sha256)' : `content unchanged (sha256 ${want.slice(0, 12)})` };
    const diff = contentChanged && !p.sensitive ? templateDiff(p, cur.exists ? (cur.content ?? '') : null) : undefined;
    return { change: true, why: why.join(', '), ...(diff ? { diff } : {}), apply: (ctx) => install(ctx, p) };
  },
});
