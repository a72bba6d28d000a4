// The KhaError a promise is expected to reject with (fails the test when it resolves instead).
import { expect } from 'vitest';
import { KhaError } from '../../src/errors.js';

export async function refusal(p: Promise<unknown>): Promise<KhaError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KhaError);
  return err as KhaError;
}
