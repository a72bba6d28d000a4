// --json: one JSON document at the end (events collected, the command's result attached).
import type { RunEvent, Sink } from '../engine/events.js';

export class JsonSink implements Sink {
  private events: RunEvent[] = [];
  private result: unknown;
  private error: unknown;
  constructor(private readonly out: NodeJS.WritableStream) {}
  /** the command failed: the error goes into the one document */
  setError(e: { message: string; code: string; exit: number }): void {
    this.error = e;
  }
  emit(e: RunEvent): void {
    if (e.type === 'result') this.result = e.data;
    else if (e.type !== 'command') this.events.push(e);
  }
  close(): void {
    const recap = [...this.events].reverse().find((e) => e.type === 'recap');
    const tasks = this.events.filter((e) => e.type === 'task');
    const messages = this.events.filter((e) => e.type === 'message' && e.level !== 'debug');
    this.out.write(
      `${JSON.stringify({ result: this.result ?? null, ...(this.error ? { error: this.error } : {}), recap: recap && recap.type === 'recap' ? recap.hosts : {}, tasks, messages }, null, 2)}\n`,
    );
  }
}
