/**
 * Splits a byte stream of concatenated JSON texts (OVSDB's JSON-RPC: no delimiter between
 * messages, RFC 7047 §4) into whole texts: a scanner of brace and bracket depth that skips
 * strings and their escapes. Feed it chunks as they arrive; it hands each complete top-level
 * value to `each` and keeps the rest for the next chunk. Whitespace between values is dropped.
 */
export class JsonFrames {
  private buffered = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Where the scan stopped in `buffered` (what is before it has been looked at). */
  private scanned = 0;
  private start = -1;

  constructor(private readonly each: (text: string) => void) {}

  push(chunk: string): void {
    this.buffered += chunk;
    for (let i = this.scanned; i < this.buffered.length; i++) {
      const c = this.buffered[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
        continue;
      }
      if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') {
        if (this.depth++ === 0) this.start = i;
      } else if (c === '}' || c === ']') {
        if (--this.depth === 0) {
          this.each(this.buffered.slice(this.start, i + 1));
          this.buffered = this.buffered.slice(i + 1);
          i = -1;
          this.start = -1;
        } else if (this.depth < 0) throw new SyntaxError(`OVSDB stream: unbalanced "${c}"`);
      } else if (this.depth === 0 && !/\s/.test(c ?? '')) throw new SyntaxError(`OVSDB stream: "${c}" outside a JSON object`);
    }
    this.scanned = this.buffered.length;
  }
}
