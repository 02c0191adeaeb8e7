import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** One flat WeCom XML document: `<xml><Name>value</Name>…</xml>`, every value a string. */
export type XmlFields = Record<string, string>;

const parser = new XMLParser({
  // MsgId is a 64-bit integer: as a JavaScript number it would lose its last digits, and with them
  // the de-duplication of WeCom's retries.
  parseTagValue: false,
  ignoreAttributes: true,
  ignoreDeclaration: true,
  processEntities: true,
  htmlEntities: false,
  maxNestedTags: 8,
});

/** Parses WeCom's flat `<xml>` document; throws on malformed XML or another root element. */
export function parseXmlFields(text: string): XmlFields {
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw new Error(`malformed XML: ${valid.err.msg} (line ${valid.err.line})`);
  const doc = parser.parse(text) as Record<string, unknown>;
  const root = doc.xml;
  if (root === undefined) throw new Error('no <xml> root element');
  // `<xml></xml>` parses to an empty string.
  if (typeof root !== 'object' || root === null) return {};
  const out: XmlFields = {};
  for (const [k, v] of Object.entries(root)) {
    // Nested elements (a news message's Articles…) are of no use to us; repeated ones keep the first.
    const first = Array.isArray(v) ? v[0] : v;
    if (typeof first === 'string') out[k] = first;
  }
  return out;
}

/** A CDATA section holding any text, `]]>` included. */
export function cdata(s: string): string {
  return `<![CDATA[${s.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
}
