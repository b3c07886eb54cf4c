//! Fixed-width text: an arbitrary file read and conformed as a declared
//! source, in UTF-8 or GBK, with or without a title line (the input's first
//! byte).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use touchpoint::sources::Format;
use touchpoint::sources::formats::fixed_width::FixedWidth;

/// 1-based [start, width] in bytes of each declared column, as in the YAML:
/// id, channel, qty, amount, day, at, flag.
const POSITIONS: [[usize; 2]; 7] = [
    [1, 12],
    [13, 12],
    [25, 6],
    [31, 14],
    [45, 10],
    [55, 19],
    [74, 5],
];

fuzz_target!(|data: &[u8]| {
    let Some((&flags, file)) = data.split_first() else {
        return;
    };
    let fw = FixedWidth {
        skip_lines: usize::from(flags & 2 != 0),
        ranges: POSITIONS.iter().map(|[s, w]| (s - 1, *w)).collect(),
    };
    let mut src = common::source(Format::FixedWidth(fw), flags);
    if flags & 1 != 0 {
        src.encoding = Some(encoding_rs::GBK);
    }
    common::read_and_conform(&src, file);
});
