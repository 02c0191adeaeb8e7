import { ErrorCodes } from '@switchboard/core';
import { describe, expect, it } from 'vitest';
import { loadDiscordConfig } from './config.ts';

const base = { AMQP_URL: 'amqp://127.0.0.1', DATABASE_URL: 'postgres://127.0.0.1/x' };
const TOKEN = 'MTE3NDU2Nzg5MDEyMzQ1Njc4OQ.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB';

describe('loadDiscordConfig', () => {
  it('needs the bot token and names it when missing', () => {
    expect(() => loadDiscordConfig(base)).toThrow(/DISCORD_BOT_TOKEN: is required/);
    try {
      loadDiscordConfig(base);
    } catch (err) {
      expect(err).toMatchObject({ code: ErrorCodes.CONFIG_INVALID });
    }
  });

  it('refuses something that is not a bot token, without echoing it', () => {
    let message = '';
    try {
      loadDiscordConfig({ ...base, DISCORD_BOT_TOKEN: 'hunter2-not-a-token' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/DISCORD_BOT_TOKEN: must be the bot token/);
    expect(message).not.toContain('hunter2');
  });

  it('accepts a token pasted with its "Bot " prefix and defaults the API to discord.com', () => {
    const cfg = loadDiscordConfig({ ...base, DISCORD_BOT_TOKEN: `Bot ${TOKEN}` });
    expect(cfg.DISCORD_BOT_TOKEN).toBe(TOKEN);
    expect(cfg.DISCORD_API_URL).toBe('https://discord.com/api');
  });

  it('refuses an API URL that is not a URL', () => {
    expect(() =>
      loadDiscordConfig({ ...base, DISCORD_BOT_TOKEN: TOKEN, DISCORD_API_URL: 'discord' }),
    ).toThrow(/DISCORD_API_URL/);
  });
});
