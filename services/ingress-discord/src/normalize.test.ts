import { describe, expect, it } from 'vitest';
import { attachmentKind, stripBotMention } from './normalize.ts';

const BOT = '1574322786665627652';

describe('stripBotMention', () => {
  it('removes both mention forms with the space after them', () => {
    expect(stripBotMention(`<@${BOT}> restart nginx`, BOT)).toBe('restart nginx');
    expect(stripBotMention(`<@!${BOT}> restart nginx`, BOT)).toBe('restart nginx');
    expect(stripBotMention(`please <@${BOT}> check`, BOT)).toBe('please check');
  });

  it("keeps other people's mentions and the message's own line breaks", () => {
    const other = '1574322786665627999';
    expect(stripBotMention(`<@${BOT}> ask <@${other}>\n\`\`\`\ncode\n\`\`\``, BOT)).toBe(
      `ask <@${other}>\n\`\`\`\ncode\n\`\`\``,
    );
  });

  it('does not touch a mention of an id that merely starts like the bot', () => {
    expect(stripBotMention(`<@${BOT}1> hi`, BOT)).toBe(`<@${BOT}1> hi`);
  });
});

describe('attachmentKind', () => {
  it('follows the announced content type, defaulting to file', () => {
    expect(attachmentKind('image/png')).toBe('image');
    expect(attachmentKind('audio/ogg')).toBe('audio');
    expect(attachmentKind('video/mp4')).toBe('video');
    expect(attachmentKind('application/pdf')).toBe('file');
    expect(attachmentKind(null)).toBe('file');
    expect(attachmentKind(undefined)).toBe('file');
  });
});
