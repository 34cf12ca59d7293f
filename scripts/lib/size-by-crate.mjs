// Reads a wasm module that keeps its function names (wasm-opt -g) and prints
// its code and data by the crate each function comes from: the bytes, and
// what the bytes of each crate compress to with gzip on their own.
//
// A function is counted under the crate of the path it is named by, with the
// `<` of an impl and the `&`, `mut` or `dyn` before a type taken off: under
// `app` for `app::chat::render_node`, under `leptos` for
// `<leptos::for_loop::...<app::...>>::build`. What the compiler inlined is
// counted where it was inlined (most of pulldown-cmark is inside
// `markdown::parse`), and wasm-bindgen's shims of exported functions hold the
// code inlined into them. Gzip on each crate alone finds less repetition than
// on the whole file, so those figures add up to more than the file's.
//
// Usage: node size-by-crate.mjs <module with names.wasm> <shipped module.wasm>
// The second is the same module as shipped, without names: its code and data
// must be the same size, or the figures would not be the shipped module's.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const named = read(readFileSync(process.argv[2]));
const shipped = read(readFileSync(process.argv[3]));
const size = (module) => [...module.bodies, ...module.segments].reduce((sum, part) => sum + part.length, 0);
if (size(named) !== size(shipped)) {
  throw new Error(`code and data: ${size(named)} bytes with names, ${size(shipped)} without`);
}
const { importedFunctions, bodies, segments, names } = named;
if (names.size === 0) throw new Error('the module has no function names: build it with wasm-opt -g');

/** The sections this counts, of the module in `bytes`. */
function read(bytes) {
  /** Reads an unsigned LEB128 at `at`: [value, position after it]. */
  function leb(at) {
    let value = 0, shift = 0, byte;
    do {
      byte = bytes[at++];
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return [value, at];
  }

  function name(at) {
    const [length, start] = leb(at);
    return [bytes.toString('utf8', start, start + length), start + length];
  }

  const SECTION = { import: 2, code: 10, data: 11, custom: 0 };
  let importedFunctions = 0;
  const bodies = [];
  const segments = [];
  const names = new Map();

  for (let at = 8; at < bytes.length;) {
    const id = bytes[at];
    const [size, start] = leb(at + 1);
    const end = start + size;
    let [count, pos] = id === SECTION.custom ? [0, start] : leb(start);
    if (id === SECTION.import) {
      for (let i = 0; i < count; i++) {
        [, pos] = name(pos);
        [, pos] = name(pos);
        const kind = bytes[pos++];
        // Only function imports (kind 0) are numbered with the functions.
        if (kind === 0) { importedFunctions++; [, pos] = leb(pos); continue; }
        throw new Error(`import of kind ${kind}: this reader knows function imports only`);
      }
    } else if (id === SECTION.code) {
      for (let i = 0; i < count; i++) {
        const [length, body] = leb(pos);
        bodies.push(bytes.subarray(body, body + length));
        pos = body + length;
      }
    } else if (id === SECTION.data) {
      for (let i = 0; i < count; i++) {
        const [flags, afterFlags] = leb(pos);
        pos = afterFlags;
        if (flags === 2) [, pos] = leb(pos);
        // An active segment's offset: a constant expression up to `end` (0x0b).
        if (flags !== 1) pos = bytes.indexOf(0x0b, pos) + 1;
        const [length, data] = leb(pos);
        segments.push(bytes.subarray(data, data + length));
        pos = data + length;
      }
    } else if (id === SECTION.custom) {
      const [section, afterName] = name(start);
      if (section === 'name') {
        for (pos = afterName; pos < end;) {
          const kind = bytes[pos];
          const [length, sub] = leb(pos + 1);
          if (kind === 1) {
            let [entries, entry] = leb(sub);
            for (; entries > 0; entries--) {
              let index, text;
              [index, entry] = leb(entry);
              [text, entry] = name(entry);
              names.set(index, text);
            }
          }
          pos = sub + length;
        }
      }
    }
    at = end;
  }
  return { importedFunctions, bodies, segments, names };
}

/** The crate a function's name starts its path with. */
function crateOf(functionName) {
  const path = functionName.replace(/^(?:[<&(]|mut |dyn |const )+/, '');
  const crate = path.match(/^([A-Za-z_][A-Za-z0-9_]*)(?:\[[0-9a-f]+\])?::/);
  return crate ? crate[1] : '(no crate: shims, exports, helpers)';
}

const byCrate = new Map();
bodies.forEach((body, i) => {
  const crate = crateOf(names.get(importedFunctions + i) ?? '');
  const entry = byCrate.get(crate) ?? { functions: 0, parts: [] };
  entry.functions++;
  entry.parts.push(body);
  byCrate.set(crate, entry);
});
byCrate.set('(data: strings, tables)', { functions: 0, parts: segments });

const rows = [...byCrate].map(([crate, { functions, parts }]) => {
  const all = Buffer.concat(parts);
  return { crate, functions, bytes: all.length, gzip: gzipSync(all, { level: 9 }).length };
}).sort((a, b) => b.gzip - a.gzip);
const total = rows.reduce((sum, row) => sum + row.bytes, 0);
const totalGzip = rows.reduce((sum, row) => sum + row.gzip, 0);

const pad = (text, width) => String(text).padStart(width);
console.log(`${'crate'.padEnd(40)}${pad('functions', 10)}${pad('bytes', 10)}${pad('gzip alone', 12)}${pad('share', 8)}`);
for (const row of rows) {
  const share = `${(100 * row.gzip / totalGzip).toFixed(1)}%`;
  console.log(`${row.crate.padEnd(40)}${pad(row.functions || '', 10)}${pad(row.bytes, 10)}${pad(row.gzip, 12)}${pad(share, 8)}`);
}
console.log(`${'total'.padEnd(40)}${pad(bodies.length, 10)}${pad(total, 10)}${pad(totalGzip, 12)}`);
