/** Discord's epoch (2015-01-01T00:00:00Z); ids encode their creation time relative to it. */
const DISCORD_EPOCH = 1_420_070_400_000n;
const WORKER_BITS = 1n << 17n;
let increment = 0n;

/**
 * A real-looking snowflake: timestamp, worker, process and increment bits, 18–19 digits long.
 * NOTE: @discordjs/rest finds the rate-limit bucket's major parameter with /\d{17,19}/, so short
 * made-up ids would silently put every channel into one bucket.
 */
export function snowflake(at: number = Date.now()): string {
  increment = (increment + 1n) & 0xfffn;
  return (((BigInt(at) - DISCORD_EPOCH) << 22n) | WORKER_BITS | increment).toString();
}
