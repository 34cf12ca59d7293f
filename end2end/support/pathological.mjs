// Hostile replies for the end-to-end tests: the inputs that once froze the
// chat (issue 10), as the echo model sends them for a prompt
// "pathological: NAME". The Rust suite in app/tests/support/pathological.rs
// holds every case at every size; these are the ones a browser must survive.
const repeat = (unit, times) => unit.repeat(times);
const lines = (count) => repeat('b\n', count);

export const PATHOLOGICAL = {
  'nested quote, lazy lines': '>>>>>> a\n' + lines(4_000),
  'quote 10 deep, lazy lines': '>>>>>>>>>> a\n' + lines(4_000),
  'long quote': '> a\n' + lines(4_000),
  'long list': '- a\n' + lines(4_000),
  'table, 2,000 columns': repeat('|a', 2_000) + '|\n' + repeat('|-', 2_000) + '|\n' + repeat('|x\n', 2_000),
  'table, 300 x 300': repeat('|a', 300) + '|\n' + repeat('|-', 300) + '|\n' + repeat(repeat('|x', 300) + '|\n', 300),
  'a* repeated': repeat('a* ', 16_000),
  '*a* pairs': repeat('*a* ', 10_000),
  '*] repeated': repeat('*]', 15_000),
  '[](x ( repeated': repeat('[](x (', 5_000),
  'nested emphasis': repeat('*', 20_000) + 'a' + repeat('*', 20_000),
  'nested brackets': repeat('[', 20_000) + 'a' + repeat(']', 20_000),
  '1 MB of prose': repeat('Some *prose* that goes on and on.\n\n', 30_000),
  '1 MB on one line': repeat('word ', 200_000),
};
