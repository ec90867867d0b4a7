/**
 * Lines of a file, for reading export bundles: split on LF (a CR before it
 * is dropped) straight from the file's bytes. node:readline with a UTF-8
 * decoding stream cost 18% of an offline verification (docs/design.md);
 * indexOf on the Buffer and one decode per line is what remains of that.
 *
 * A line longer than `maxBytes` is never held whole: reading stops with
 * `tooLong(lineNo)`'s error, so a file without newlines cannot fill memory.
 */
import { open } from 'node:fs/promises';

export async function* readLines(path: string, maxBytes: number, tooLong: (lineNo: number) => Error): AsyncGenerator<string> {
  const fh = await open(path, 'r');
  try {
    const CHUNK = 1 << 20;
    let carry: Buffer = Buffer.alloc(0);
    let lineNo = 0;
    for (;;) {
      // A fresh buffer per read, the unfinished line copied to its front: the lines
      // yielded from the previous buffer stay valid, and only the carry is copied.
      const buf = Buffer.allocUnsafe(carry.length + CHUNK);
      carry.copy(buf, 0);
      const { bytesRead } = await fh.read(buf, carry.length, CHUNK, null);
      if (bytesRead === 0) break;
      const view = buf.subarray(0, carry.length + bytesRead);
      let start = 0;
      for (let nl = view.indexOf(10, start); nl >= 0; nl = view.indexOf(10, start)) {
        lineNo++;
        if (nl - start > maxBytes) throw tooLong(lineNo);
        const end = nl > start && view[nl - 1] === 13 ? nl - 1 : nl;
        yield view.toString('utf8', start, end);
        start = nl + 1;
      }
      carry = view.subarray(start);
      if (carry.length > maxBytes) throw tooLong(lineNo + 1);
    }
    if (carry.length > 0) {
      const end = carry[carry.length - 1] === 13 ? carry.length - 1 : carry.length;
      yield carry.toString('utf8', 0, end);
    }
  } finally {
    await fh.close();
  }
}
