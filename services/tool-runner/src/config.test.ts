import { describe, expect, it } from 'vitest';
import { loadToolRunnerConfig } from './config.ts';

const base = { AMQP_URL: 'amqp://localhost', DATABASE_URL: 'postgres://localhost/x' };

describe('tool-runner configuration', () => {
  it('has safe defaults: every tool on, a short read-only command list, nothing internal reachable', () => {
    const cfg = loadToolRunnerConfig(base);
    expect([...cfg.TOOLS_ENABLED]).toEqual(['shell', 'http_fetch', 'files', 'browser', 'send_message']);
    expect(cfg.SHELL_ALLOWLIST.map((c) => c.name)).toEqual([
      'date',
      'df',
      'du',
      'free',
      'uname',
      'uptime',
      'ls',
      'cat',
      'head',
      'tail',
      'wc',
    ]);
    expect(cfg.EGRESS_ALLOWLIST).toEqual([]);
    expect(cfg.CHANNELS_JSON).toEqual({});
    expect(cfg.SHELL_SANDBOX).toBe('spawn');
  });

  it.each([
    ['SHELL_ALLOWLIST', 'df,bash', /SHELL_ALLOWLIST: "bash" is not in the shell catalogue/],
    [
      'SHELL_ALLOWLIST',
      'systemctl status',
      /SHELL_ALLOWLIST: "systemctl status": entries are program names only/,
    ],
    ['SHELL_SANDBOX_UID', '0', /SHELL_SANDBOX_UID/],
    ['EGRESS_ALLOWLIST', '10.0.0.0/99', /EGRESS_ALLOWLIST: "10.0.0.0\/99": not a valid CIDR range/],
    ['TOOLS_ENABLED', 'shell,rm', /TOOLS_ENABLED: unknown tool\(s\) rm/],
    ['BROWSER_RENDER', 'docker', /BROWSER_RENDER/],
    ['BROWSER_MAX_SCREENSHOT_BYTES', '10', /BROWSER_MAX_SCREENSHOT_BYTES/],
    ['CHANNELS_JSON', '{"ops": {"platform": "irc"}}', /CHANNELS_JSON: .*platform/],
    ['CHANNELS_JSON', 'nope', /CHANNELS_JSON: not JSON/],
    ['WORKSPACE_DIR', 'relative/dir', /WORKSPACE_DIR: must be an absolute path/],
  ])('stops on a bad %s, naming the key', (key, value, message) => {
    expect(() => loadToolRunnerConfig({ ...base, [key]: value })).toThrow(message);
  });
});
