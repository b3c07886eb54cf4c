//! The pipeline file: arbitrary text through the size and alias guard, the
//! position index and the per-entry parse. No panic, no hang, bounded memory
//! (run with `-timeout=10 -rss_limit_mb=2048`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use touchpoint::spec::{Locator, guard};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let guarded = guard::check(text);
    if guarded.is_ok() {
        // The index is only built for text the guard let through.
        let loc = Locator::new(text);
        let _ = loc.value("sources.atm.columns.amount.type");
        let _ = loc.key("name");
    }
    let parsed = touchpoint::pipeline::spec::parse(Path::new("p.yaml"), text);
    match (&guarded, &parsed) {
        (Err(_), Ok(_)) => panic!("the guard refused the text but the parse accepted it"),
        (_, Err(diags)) => assert!(!diags.is_empty(), "a refusal says why"),
        _ => {}
    }
});
