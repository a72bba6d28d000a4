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

/** Debian releases a lab host can run (docker/build-image.sh --release); bookworm is the default */
export const LAB_RELEASES = ['bullseye', 'bookworm', 'trixie'] as const;
export type LabRelease = (typeof LAB_RELEASES)[number];
export const DEFAULT_LAB_RELEASE: LabRelease = 'bookworm';

const imagePromises = new Map<string, Promise<string>>();

/** the image build-image.sh tags for a kind and release (bookworm honours KHA_IMAGE / KHA_READY_IMAGE) */
export function imageName(kind: 'plain' | 'ready', release: LabRelease = DEFAULT_LAB_RELEASE): string {
  if (release === DEFAULT_LAB_RELEASE)
    return kind === 'ready' ? (process.env.KHA_READY_IMAGE ?? DEFAULT_READY_IMAGE) : (process.env.KHA_IMAGE ?? DEFAULT_IMAGE);
  return kind === 'ready' ? `kha-host-ready:${release}` : `kha-host:${release}`;
}

/**
 * Runs docker/build-image.sh (fast when the image is present and current); returns the image name.
 * 'ready': the image with keepalived and haproxy preinstalled (built FROM the plain one).
 * release: the Debian release of the host (bullseye 11, bookworm 12, trixie 13).
 */
export async function ensureImage(kind: 'plain' | 'ready' = 'plain', release: LabRelease = DEFAULT_LAB_RELEASE): Promise<string> {
  const key = `${kind}:${release}`;
  let p = imagePromises.get(key);
  if (!p) {
    p = buildImage(kind, release);
    imagePromises.set(key, p);
  }
  try {
    return await p;
  } catch (err) {
    imagePromises.delete(key);
    throw err;
  }
}

async function buildImage(kind: 'plain' | 'ready', release: LabRelease): Promise<string> {
  const script = path.join(dockerDir(), 'build-image.sh');
  if (!fs.existsSync(script)) throw new Error(`cannot build the lab image: ${script} is missing`);
  const wanted = imageName(kind, release);
  try {
    await execFileP('bash', [script, ...(kind === 'ready' ? ['--ready'] : []), '--release', release], {
      env: { ...process.env, KHA_IMAGE: imageName('plain'), KHA_READY_IMAGE: imageName('ready') },
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
