//! Reins's one change to unicase (see `vendor/README.md`): case folding read
//! from two tables instead of the published `match` of 2,000 lines in
//! `map.rs`, which is 2.9 KB of the chat's gzipped wasm; `map.rs` stays, as
//! published, for the tests below, which prove the two fold every
//! character the same.

use super::fold::Fold;

/// A run of characters that each fold to one character, `step` apart (1 or
/// 2), folded by adding `delta`: packed as `first << 8 | count << 1 | (step -
/// 1)`, then `delta`.
const fn run(first: u32, count: u32, step: u32, delta: i32) -> (u32, i32) {
    assert!(count < 1 << 7 && (step == 1 || step == 2) && first <= 0x10ffff);
    (first << 8 | count << 1 | (step - 1), delta)
}

/// Every character that folds to another single character, in runs sorted
/// by their first character; no two runs overlap.
static RUNS: [(u32, i32); 208] = [
    run(0x41, 26, 1, 32),
    run(0xb5, 1, 1, 775),
    run(0xc0, 23, 1, 32),
    run(0xd8, 7, 1, 32),
    run(0x100, 24, 2, 1),
    run(0x132, 3, 2, 1),
    run(0x139, 8, 2, 1),
    run(0x14a, 23, 2, 1),
    run(0x178, 1, 1, -121),
    run(0x179, 3, 2, 1),
    run(0x17f, 1, 1, -268),
    run(0x181, 1, 1, 210),
    run(0x182, 2, 2, 1),
    run(0x186, 1, 1, 206),
    run(0x187, 1, 1, 1),
    run(0x189, 2, 1, 205),
    run(0x18b, 1, 1, 1),
    run(0x18e, 1, 1, 79),
    run(0x18f, 1, 1, 202),
    run(0x190, 1, 1, 203),
    run(0x191, 1, 1, 1),
    run(0x193, 1, 1, 205),
    run(0x194, 1, 1, 207),
    run(0x196, 1, 1, 211),
    run(0x197, 1, 1, 209),
    run(0x198, 1, 1, 1),
    run(0x19c, 1, 1, 211),
    run(0x19d, 1, 1, 213),
    run(0x19f, 1, 1, 214),
    run(0x1a0, 3, 2, 1),
    run(0x1a6, 1, 1, 218),
    run(0x1a7, 1, 1, 1),
    run(0x1a9, 1, 1, 218),
    run(0x1ac, 1, 1, 1),
    run(0x1ae, 1, 1, 218),
    run(0x1af, 1, 1, 1),
    run(0x1b1, 2, 1, 217),
    run(0x1b3, 2, 2, 1),
    run(0x1b7, 1, 1, 219),
    run(0x1b8, 1, 1, 1),
    run(0x1bc, 1, 1, 1),
    run(0x1c4, 1, 1, 2),
    run(0x1c5, 1, 1, 1),
    run(0x1c7, 1, 1, 2),
    run(0x1c8, 1, 1, 1),
    run(0x1ca, 1, 1, 2),
    run(0x1cb, 9, 2, 1),
    run(0x1de, 9, 2, 1),
    run(0x1f1, 1, 1, 2),
    run(0x1f2, 2, 2, 1),
    run(0x1f6, 1, 1, -97),
    run(0x1f7, 1, 1, -56),
    run(0x1f8, 20, 2, 1),
    run(0x220, 1, 1, -130),
    run(0x222, 9, 2, 1),
    run(0x23a, 1, 1, 10795),
    run(0x23b, 1, 1, 1),
    run(0x23d, 1, 1, -163),
    run(0x23e, 1, 1, 10792),
    run(0x241, 1, 1, 1),
    run(0x243, 1, 1, -195),
    run(0x244, 1, 1, 69),
    run(0x245, 1, 1, 71),
    run(0x246, 5, 2, 1),
    run(0x345, 1, 1, 116),
    run(0x370, 2, 2, 1),
    run(0x376, 1, 1, 1),
    run(0x37f, 1, 1, 116),
    run(0x386, 1, 1, 38),
    run(0x388, 3, 1, 37),
    run(0x38c, 1, 1, 64),
    run(0x38e, 2, 1, 63),
    run(0x391, 17, 1, 32),
    run(0x3a3, 9, 1, 32),
    run(0x3c2, 1, 1, 1),
    run(0x3cf, 1, 1, 8),
    run(0x3d0, 1, 1, -30),
    run(0x3d1, 1, 1, -25),
    run(0x3d5, 1, 1, -15),
    run(0x3d6, 1, 1, -22),
    run(0x3d8, 12, 2, 1),
    run(0x3f0, 1, 1, -54),
    run(0x3f1, 1, 1, -48),
    run(0x3f4, 1, 1, -60),
    run(0x3f5, 1, 1, -64),
    run(0x3f7, 1, 1, 1),
    run(0x3f9, 1, 1, -7),
    run(0x3fa, 1, 1, 1),
    run(0x3fd, 3, 1, -130),
    run(0x400, 16, 1, 80),
    run(0x410, 32, 1, 32),
    run(0x460, 17, 2, 1),
    run(0x48a, 27, 2, 1),
    run(0x4c0, 1, 1, 15),
    run(0x4c1, 7, 2, 1),
    run(0x4d0, 48, 2, 1),
    run(0x531, 38, 1, 48),
    run(0x10a0, 38, 1, 7264),
    run(0x10c7, 1, 1, 7264),
    run(0x10cd, 1, 1, 7264),
    run(0x13f8, 6, 1, -8),
    run(0x1c80, 1, 1, -6222),
    run(0x1c81, 1, 1, -6221),
    run(0x1c82, 1, 1, -6212),
    run(0x1c83, 2, 1, -6210),
    run(0x1c85, 1, 1, -6211),
    run(0x1c86, 1, 1, -6204),
    run(0x1c87, 1, 1, -6180),
    run(0x1c88, 1, 1, 35267),
    run(0x1c89, 1, 1, 1),
    run(0x1c90, 43, 1, -3008),
    run(0x1cbd, 3, 1, -3008),
    run(0x1e00, 75, 2, 1),
    run(0x1e9b, 1, 1, -58),
    run(0x1ea0, 48, 2, 1),
    run(0x1f08, 8, 1, -8),
    run(0x1f18, 6, 1, -8),
    run(0x1f28, 8, 1, -8),
    run(0x1f38, 8, 1, -8),
    run(0x1f48, 6, 1, -8),
    run(0x1f59, 4, 2, -8),
    run(0x1f68, 8, 1, -8),
    run(0x1fb8, 2, 1, -8),
    run(0x1fba, 2, 1, -74),
    run(0x1fbe, 1, 1, -7173),
    run(0x1fc8, 4, 1, -86),
    run(0x1fd8, 2, 1, -8),
    run(0x1fda, 2, 1, -100),
    run(0x1fe8, 2, 1, -8),
    run(0x1fea, 2, 1, -112),
    run(0x1fec, 1, 1, -7),
    run(0x1ff8, 2, 1, -128),
    run(0x1ffa, 2, 1, -126),
    run(0x2126, 1, 1, -7517),
    run(0x212a, 1, 1, -8383),
    run(0x212b, 1, 1, -8262),
    run(0x2132, 1, 1, 28),
    run(0x2160, 16, 1, 16),
    run(0x2183, 1, 1, 1),
    run(0x24b6, 26, 1, 26),
    run(0x2c00, 48, 1, 48),
    run(0x2c60, 1, 1, 1),
    run(0x2c62, 1, 1, -10743),
    run(0x2c63, 1, 1, -3814),
    run(0x2c64, 1, 1, -10727),
    run(0x2c67, 3, 2, 1),
    run(0x2c6d, 1, 1, -10780),
    run(0x2c6e, 1, 1, -10749),
    run(0x2c6f, 1, 1, -10783),
    run(0x2c70, 1, 1, -10782),
    run(0x2c72, 1, 1, 1),
    run(0x2c75, 1, 1, 1),
    run(0x2c7e, 2, 1, -10815),
    run(0x2c80, 50, 2, 1),
    run(0x2ceb, 2, 2, 1),
    run(0x2cf2, 1, 1, 1),
    run(0xa640, 23, 2, 1),
    run(0xa680, 14, 2, 1),
    run(0xa722, 7, 2, 1),
    run(0xa732, 31, 2, 1),
    run(0xa779, 2, 2, 1),
    run(0xa77d, 1, 1, -35332),
    run(0xa77e, 5, 2, 1),
    run(0xa78b, 1, 1, 1),
    run(0xa78d, 1, 1, -42280),
    run(0xa790, 2, 2, 1),
    run(0xa796, 10, 2, 1),
    run(0xa7aa, 1, 1, -42308),
    run(0xa7ab, 1, 1, -42319),
    run(0xa7ac, 1, 1, -42315),
    run(0xa7ad, 1, 1, -42305),
    run(0xa7ae, 1, 1, -42308),
    run(0xa7b0, 1, 1, -42258),
    run(0xa7b1, 1, 1, -42282),
    run(0xa7b2, 1, 1, -42261),
    run(0xa7b3, 1, 1, 928),
    run(0xa7b4, 8, 2, 1),
    run(0xa7c4, 1, 1, -48),
    run(0xa7c5, 1, 1, -42307),
    run(0xa7c6, 1, 1, -35384),
    run(0xa7c7, 2, 2, 1),
    run(0xa7cb, 1, 1, -42343),
    run(0xa7cc, 8, 2, 1),
    run(0xa7dc, 1, 1, -42561),
    run(0xa7dd, 1, 1, -42342),
    run(0xa7e2, 1, 1, -42342),
    run(0xa7f5, 1, 1, 1),
    run(0xab6c, 2, 1, -33),
    run(0xab70, 80, 1, -38864),
    run(0xff21, 26, 1, 32),
    run(0x10400, 40, 1, 40),
    run(0x104b0, 36, 1, 40),
    run(0x10570, 11, 1, 39),
    run(0x1057c, 15, 1, 39),
    run(0x1058c, 7, 1, 39),
    run(0x10594, 2, 1, 39),
    run(0x10c80, 51, 1, 64),
    run(0x10d50, 22, 1, 32),
    run(0x118a0, 32, 1, 32),
    run(0x16e40, 32, 1, 32),
    run(0x16ea0, 25, 1, 27),
    run(0x1df40, 1, 1, 1),
    run(0x1df48, 2, 2, 1),
    run(0x1df4d, 1, 1, 1),
    run(0x1df51, 1, 1, 1),
    run(0x1df68, 4, 2, 1),
    run(0x1df72, 7, 2, 1),
    run(0x1e900, 34, 1, 34),
];

/// Every character that folds to two or three: the character, then what it
/// folds to (ended by 0 when two), sorted. What they fold to is below
/// U+10000, so 16 bits each (the tables would not build otherwise).
static MANY: [(u32, [u16; 3]); 105] = [
    (0xdf, [0x73, 0x73, 0x0]),
    (0x130, [0x69, 0x307, 0x0]),
    (0x149, [0x2bc, 0x6e, 0x0]),
    (0x1f0, [0x6a, 0x30c, 0x0]),
    (0x390, [0x3b9, 0x308, 0x301]),
    (0x3b0, [0x3c5, 0x308, 0x301]),
    (0x587, [0x565, 0x582, 0x0]),
    (0x1e96, [0x68, 0x331, 0x0]),
    (0x1e97, [0x74, 0x308, 0x0]),
    (0x1e98, [0x77, 0x30a, 0x0]),
    (0x1e99, [0x79, 0x30a, 0x0]),
    (0x1e9a, [0x61, 0x2be, 0x0]),
    (0x1e9e, [0x73, 0x73, 0x0]),
    (0x1f50, [0x3c5, 0x313, 0x0]),
    (0x1f52, [0x3c5, 0x313, 0x300]),
    (0x1f54, [0x3c5, 0x313, 0x301]),
    (0x1f56, [0x3c5, 0x313, 0x342]),
    (0x1f80, [0x1f00, 0x3b9, 0x0]),
    (0x1f81, [0x1f01, 0x3b9, 0x0]),
    (0x1f82, [0x1f02, 0x3b9, 0x0]),
    (0x1f83, [0x1f03, 0x3b9, 0x0]),
    (0x1f84, [0x1f04, 0x3b9, 0x0]),
    (0x1f85, [0x1f05, 0x3b9, 0x0]),
    (0x1f86, [0x1f06, 0x3b9, 0x0]),
    (0x1f87, [0x1f07, 0x3b9, 0x0]),
    (0x1f88, [0x1f00, 0x3b9, 0x0]),
    (0x1f89, [0x1f01, 0x3b9, 0x0]),
    (0x1f8a, [0x1f02, 0x3b9, 0x0]),
    (0x1f8b, [0x1f03, 0x3b9, 0x0]),
    (0x1f8c, [0x1f04, 0x3b9, 0x0]),
    (0x1f8d, [0x1f05, 0x3b9, 0x0]),
    (0x1f8e, [0x1f06, 0x3b9, 0x0]),
    (0x1f8f, [0x1f07, 0x3b9, 0x0]),
    (0x1f90, [0x1f20, 0x3b9, 0x0]),
    (0x1f91, [0x1f21, 0x3b9, 0x0]),
    (0x1f92, [0x1f22, 0x3b9, 0x0]),
    (0x1f93, [0x1f23, 0x3b9, 0x0]),
    (0x1f94, [0x1f24, 0x3b9, 0x0]),
    (0x1f95, [0x1f25, 0x3b9, 0x0]),
    (0x1f96, [0x1f26, 0x3b9, 0x0]),
    (0x1f97, [0x1f27, 0x3b9, 0x0]),
    (0x1f98, [0x1f20, 0x3b9, 0x0]),
    (0x1f99, [0x1f21, 0x3b9, 0x0]),
    (0x1f9a, [0x1f22, 0x3b9, 0x0]),
    (0x1f9b, [0x1f23, 0x3b9, 0x0]),
    (0x1f9c, [0x1f24, 0x3b9, 0x0]),
    (0x1f9d, [0x1f25, 0x3b9, 0x0]),
    (0x1f9e, [0x1f26, 0x3b9, 0x0]),
    (0x1f9f, [0x1f27, 0x3b9, 0x0]),
    (0x1fa0, [0x1f60, 0x3b9, 0x0]),
    (0x1fa1, [0x1f61, 0x3b9, 0x0]),
    (0x1fa2, [0x1f62, 0x3b9, 0x0]),
    (0x1fa3, [0x1f63, 0x3b9, 0x0]),
    (0x1fa4, [0x1f64, 0x3b9, 0x0]),
    (0x1fa5, [0x1f65, 0x3b9, 0x0]),
    (0x1fa6, [0x1f66, 0x3b9, 0x0]),
    (0x1fa7, [0x1f67, 0x3b9, 0x0]),
    (0x1fa8, [0x1f60, 0x3b9, 0x0]),
    (0x1fa9, [0x1f61, 0x3b9, 0x0]),
    (0x1faa, [0x1f62, 0x3b9, 0x0]),
    (0x1fab, [0x1f63, 0x3b9, 0x0]),
    (0x1fac, [0x1f64, 0x3b9, 0x0]),
    (0x1fad, [0x1f65, 0x3b9, 0x0]),
    (0x1fae, [0x1f66, 0x3b9, 0x0]),
    (0x1faf, [0x1f67, 0x3b9, 0x0]),
    (0x1fb2, [0x1f70, 0x3b9, 0x0]),
    (0x1fb3, [0x3b1, 0x3b9, 0x0]),
    (0x1fb4, [0x3ac, 0x3b9, 0x0]),
    (0x1fb6, [0x3b1, 0x342, 0x0]),
    (0x1fb7, [0x3b1, 0x342, 0x3b9]),
    (0x1fbc, [0x3b1, 0x3b9, 0x0]),
    (0x1fc2, [0x1f74, 0x3b9, 0x0]),
    (0x1fc3, [0x3b7, 0x3b9, 0x0]),
    (0x1fc4, [0x3ae, 0x3b9, 0x0]),
    (0x1fc6, [0x3b7, 0x342, 0x0]),
    (0x1fc7, [0x3b7, 0x342, 0x3b9]),
    (0x1fcc, [0x3b7, 0x3b9, 0x0]),
    (0x1fd2, [0x3b9, 0x308, 0x300]),
    (0x1fd3, [0x3b9, 0x308, 0x301]),
    (0x1fd6, [0x3b9, 0x342, 0x0]),
    (0x1fd7, [0x3b9, 0x308, 0x342]),
    (0x1fe2, [0x3c5, 0x308, 0x300]),
    (0x1fe3, [0x3c5, 0x308, 0x301]),
    (0x1fe4, [0x3c1, 0x313, 0x0]),
    (0x1fe6, [0x3c5, 0x342, 0x0]),
    (0x1fe7, [0x3c5, 0x308, 0x342]),
    (0x1ff2, [0x1f7c, 0x3b9, 0x0]),
    (0x1ff3, [0x3c9, 0x3b9, 0x0]),
    (0x1ff4, [0x3ce, 0x3b9, 0x0]),
    (0x1ff6, [0x3c9, 0x342, 0x0]),
    (0x1ff7, [0x3c9, 0x342, 0x3b9]),
    (0x1ffc, [0x3c9, 0x3b9, 0x0]),
    (0xfb00, [0x66, 0x66, 0x0]),
    (0xfb01, [0x66, 0x69, 0x0]),
    (0xfb02, [0x66, 0x6c, 0x0]),
    (0xfb03, [0x66, 0x66, 0x69]),
    (0xfb04, [0x66, 0x66, 0x6c]),
    (0xfb05, [0x73, 0x74, 0x0]),
    (0xfb06, [0x73, 0x74, 0x0]),
    (0xfb13, [0x574, 0x576, 0x0]),
    (0xfb14, [0x574, 0x565, 0x0]),
    (0xfb15, [0x574, 0x56b, 0x0]),
    (0xfb16, [0x57e, 0x576, 0x0]),
    (0xfb17, [0x574, 0x56d, 0x0]),
    (0x1df95, [0x73, 0x73, 0x0]),
];

pub fn lookup(orig: char) -> Fold {
    let from = orig as u32;
    // The last run that starts at or before `from`.
    let at = RUNS.partition_point(|&(run, _)| run >> 8 <= from);
    if let Some(&(run, delta)) = at.checked_sub(1).and_then(|at| RUNS.get(at)) {
        let (first, count, step) = (run >> 8, (run >> 1) & 0x7f, (run & 1) + 1);
        let offset = from - first;
        if offset % step == 0 && offset / step < count {
            if let Some(folded) = char::from_u32(from.wrapping_add(delta as u32)) {
                return Fold::One(folded);
            }
        }
    }
    let char = |unit: u16| char::from_u32(u32::from(unit)).unwrap_or(orig);
    match MANY.binary_search_by_key(&from, |&(from, _)| from) {
        Ok(at) => match MANY[at].1 {
            [one, two, 0] => Fold::Two(char(one), char(two)),
            [one, two, three] => Fold::Three(char(one), char(two), char(three)),
        },
        Err(_) => Fold::One(orig),
    }
}

#[cfg(test)]
mod tests {
    use super::super::map;
    use alloc::vec::Vec;
    use core::convert::TryFrom;
    use std::println;

    fn published(c: char) -> Vec<char> {
        map::lookup(c).collect()
    }

    #[test]
    fn the_tables_fold_every_character_as_the_published_match() {
        let mut folded = 0;
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let packed: Vec<char> = super::lookup(c).collect();
            assert_eq!(packed, published(c), "{c:?} ({:#x})", c as u32);
            folded += usize::from(packed != [c]);
        }
        // Both fold the same 1,606 characters: the tables are not empty.
        assert_eq!(folded, 1606);
    }

    #[test]
    fn runs_are_sorted_and_apart() {
        let mut end = 0;
        for &(run, _) in super::RUNS.iter() {
            let (first, count, step) = (run >> 8, (run >> 1) & 0x7f, (run & 1) + 1);
            assert!(first >= end && count > 0, "{:#x}", first);
            end = first + (count - 1) * step + 1;
        }
        assert!(super::MANY.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }

    /// Prints `RUNS` and `MANY` from the published `match`, to paste above:
    /// `cargo test -p unicase --lib -- --ignored --nocapture print_the_tables`.
    #[test]
    #[ignore]
    fn print_the_tables() {
        let mut runs: Vec<(u32, u32, u32, i32)> = Vec::new();
        let mut many = Vec::new();
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let folded = published(c);
            if folded == [c] {
                continue;
            }
            if folded.len() > 1 {
                many.push((c, folded));
                continue;
            }
            let (from, delta) = (c as u32, (folded[0] as u32).wrapping_sub(c as u32) as i32);
            if let Some((first, count, step, run_delta)) = runs.last_mut() {
                let last = *first + (*count - 1) * *step;
                let next = if *count == 1 { from - last } else { *step };
                if *run_delta == delta && (next == 1 || next == 2) && from == last + next && *count < 127 {
                    *step = next;
                    *count += 1;
                    continue;
                }
            }
            runs.push((from, 1, 1, delta));
        }
        println!("static RUNS: [(u32, i32); {}] = [", runs.len());
        for (first, count, step, delta) in runs {
            println!("    run({first:#x}, {count}, {step}, {delta}),");
        }
        println!("];");
        println!("static MANY: [(u32, [u16; 3]); {}] = [", many.len());
        for (c, folded) in many {
            let to: Vec<u16> = (0..3)
                .map(|k| folded.get(k).map_or(0, |f| u16::try_from(*f as u32).unwrap()))
                .collect();
            println!("    ({:#x}, [{:#x}, {:#x}, {:#x}]),", c as u32, to[0], to[1], to[2]);
        }
        println!("];");
    }
}
