//! Any text: the tree is bounded in size and depth, shows exactly the text
//! pulldown-cmark reports, and streams in bounded pieces; nothing panics,
//! and no input takes longer than libFuzzer's `-timeout`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/invariants.rs"]
mod invariants;

fuzz_target!(|data: &[u8]| {
    invariants::check(&String::from_utf8_lossy(data));
});
