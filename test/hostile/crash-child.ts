import { createLogger, handleShutdown, runMain } from '../../packages/core/src/index.ts';

/*
 * A stand-in for a service: starts through runMain, registers its stop steps with handleShutdown,
 * then lets a promise reject with nobody listening (CRASH=rejection) or throws from a timer
 * (CRASH=exception). The stop step reports on stdout, so the test sees that it ran.
 */
runMain('crash-child', async () => {
  const log = createLogger('crash-child', 'info');
  handleShutdown(log, 5_000, [
    [
      'close intake',
      async () => {
        process.stdout.write('stop step ran\n');
      },
    ],
  ]);
  // Keeps the process alive until the crash; a clean run would never end on its own.
  setInterval(() => {}, 60_000);
  setTimeout(() => {
    if (process.env.CRASH === 'exception') throw new Error('thrown from a timer (bearer-less)');
    void Promise.reject(new Error('nobody awaited this promise'));
  }, 50);
});
