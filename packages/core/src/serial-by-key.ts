/**
 * Runs tasks one after another per key and concurrently across keys: the turns of one conversation
 * in delivery order, different conversations in parallel.
 */
export class SerialByKey {
  private readonly tails = new Map<string, Promise<void>>();

  run(key: string, task: () => Promise<void>): Promise<void> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(task, task);
    const tail = next.catch(() => {});
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }

  get activeKeys(): number {
    return this.tails.size;
  }
}
