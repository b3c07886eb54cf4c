//! CSV: an arbitrary file read and conformed as a declared source, with or
//! without a header, comma- or pipe-delimited (the input's first byte).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use touchpoint::sources::Format;
use touchpoint::sources::formats::csv::Csv;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, file)) = data.split_first() else {
        return;
    };
    let csv = Csv {
        delimiter: if flags & 2 != 0 { b'|' } else { b',' },
        header: flags & 1 == 0,
        quote: b'"',
    };
    let src = common::source(Format::Csv(csv), flags);
    common::read_and_conform(&src, file);
});
