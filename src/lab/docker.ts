// Docker plumbing through testcontainers (loaded lazily: importing it costs ~0.5 s at every kha start).
import type { ContainerRuntimeClient, GenericContainer as GenericContainerT } from 'testcontainers';
import { ExitCode, KhaError } from '../errors.js';
import type { ExecOutput } from './types.js';

// Ryuk (testcontainers' reaper) cannot be pulled where there is no registry; we clean up by label.
process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';

/** Said when testcontainers (an optional dependency: only `kha lab` and the tests need it) is not installed. */
export const NO_TESTCONTAINERS_MESSAGE =
  'kha lab needs the optional package testcontainers, which is not installed: run `npm install -g testcontainers@^11` (beside a global kha), or reinstall kha without --omit=optional';

/**
 * testcontainers is loaded only when a lab is used (importing it costs ~0.5 s at every kha start),
 * and it is an optional dependency: without it every other command works, and `kha lab` says how
 * to add it.
 */
async function testcontainers(): Promise<typeof import('testcontainers')> {
  try {
    return await import('testcontainers');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && /'testcontainers'/.test((err as Error).message))
      throw new KhaError(NO_TESTCONTAINERS_MESSAGE, { code: 'E_NO_TESTCONTAINERS', exit: ExitCode.usage });
    throw err;
  }
}

export async function client(): Promise<ContainerRuntimeClient> {
  const { getContainerRuntimeClient } = await testcontainers();
  return getContainerRuntimeClient();
}

/** GenericContainer plus the two create options testcontainers 11 has no builder method for. */
interface LabContainerT extends GenericContainerT {
  withStaticAddress(network: string, address: string): this;
  withStopSignal(signal: string): this;
}

export async function labContainer(image: string): Promise<LabContainerT> {
  const { GenericContainer } = await testcontainers();
  class LabContainer extends GenericContainer {
    withStaticAddress(network: string, address: string): this {
      this.createOpts.NetworkingConfig = { EndpointsConfig: { [network]: { IPAMConfig: { IPv4Address: address } } } };
      return this;
    }

    withStopSignal(signal: string): this {
      this.createOpts.StopSignal = signal;
      return this;
    }
  }
  return new LabContainer(image);
}

export async function dockerExec(c: ContainerRuntimeClient, id: string, cmd: string[]): Promise<ExecOutput> {
  const r = await c.container.exec(c.container.getById(id), cmd);
  return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

export function validName(name: string): void {
  if (!/^[a-z0-9][a-z0-9-]{0,40}$/.test(name)) {
    throw new Error(`bad lab name '${name}': use 1-41 of [a-z0-9-], starting with a letter or digit`);
  }
}
