// The Docker engine and the lab images: docker/build-image.sh builds them (plain, and with
// keepalived + haproxy preinstalled) and is a no-op when they match docker/'s content hash.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DEFAULT_IMAGE, DEFAULT_READY_IMAGE } from './types.js';

const execFileP = promisify(execFile);

export async function dockerAvailable(): Promise<boolean> {
  try {
    await execFileP('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/** the package's docker/ directory, from src/lab/, dist/lab/ and the bundle's dist/bundle/ alike (two levels down) */
export function dockerDir(): string {
  return fileURLToPath(new URL('../../docker/', import.meta.url));
}

const imagePromises = new Map<'plain' | 'ready', Promise<string>>();

/**
 * Runs docker/build-image.sh (fast when the image is present and current); returns the image name.
 * 'ready': the image with keepalived and haproxy preinstalled (built FROM the plain one).
 */
export async function ensureImage(kind: 'plain' | 'ready' = 'plain'): Promise<string> {
  let p = imagePromises.get(kind);
  if (!p) {
    p = buildImage(kind);
    imagePromises.set(kind, p);
  }
  try {
    return await p;
  } catch (err) {
    imagePromises.delete(kind);
    throw err;
  }
}

async function buildImage(kind: 'plain' | 'ready'): Promise<string> {
  const image = process.env.KHA_IMAGE ?? DEFAULT_IMAGE;
  const ready = process.env.KHA_READY_IMAGE ?? DEFAULT_READY_IMAGE;
  const script = path.join(dockerDir(), 'build-image.sh');
  if (!fs.existsSync(script)) throw new Error(`cannot build the lab image: ${script} is missing`);
  const wanted = kind === 'ready' ? ready : image;
  try {
    await execFileP('bash', [script, ...(kind === 'ready' ? ['--ready'] : [])], {
      env: { ...process.env, KHA_IMAGE: image, KHA_READY_IMAGE: ready },
      timeout: 15 * 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`building the lab image ${wanted} failed (bash ${script}): ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`, {
      cause: err,
    });
  }
  return wanted;
}
