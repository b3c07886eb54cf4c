//! JSON lines: an arbitrary file read and conformed as a declared source
//! (the input's first byte chooses a periodic source or not).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use touchpoint::sources::Format;
use touchpoint::sources::formats::jsonl::Jsonl;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, file)) = data.split_first() else {
        return;
    };
    let src = common::source(Format::Jsonl(Jsonl), flags);
    common::read_and_conform(&src, file);
});
