// Docker plumbing through testcontainers (loaded lazily: importing it costs ~0.5 s at every kha start).
import type { ContainerRuntimeClient, GenericContainer as GenericContainerT } from 'testcontainers';
import type { ExecOutput } from './types.js';

// Ryuk (testcontainers' reaper) cannot be pulled where there is no registry; we clean up by label.
process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';

// testcontainers is loaded only when a lab is used: importing it costs ~0.5 s at every kha start
export async function client(): Promise<ContainerRuntimeClient> {
  const { getContainerRuntimeClient } = await import('testcontainers');
  return getContainerRuntimeClient();
}

/** GenericContainer plus the two create options testcontainers 11 has no builder method for. */
interface LabContainerT extends GenericContainerT {
  withStaticAddress(network: string, address: string): this;
  withStopSignal(signal: string): this;
}

export async function labContainer(image: string): Promise<LabContainerT> {
  const { GenericContainer } = await import('testcontainers');
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
