//! The pipeline file: arbitrary text through the size and alias guard, the
//! position index and the per-entry parse. No panic, no hang, bounded memory
//! (run with `-timeout=10 -rss_limit_mb=2048`); every refusal says why and
//! points inside the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use touchpoint::spec::{Locator, guard};

/// Lines and the longest line in characters, counting every break YAML 1.1
/// knows (libyaml also breaks at NEL, LS and PS).
fn extent(text: &str) -> (usize, usize) {
    let breaks = ['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'];
    let lines = text.matches(breaks).count() + 1;
    let widest = text
        .split(breaks)
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0);
    (lines, widest)
}

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
    let (lines, widest) = extent(text);
    match (&guarded, &parsed) {
        (Err(_), Ok(_)) => panic!("the guard refused the text but the parse accepted it"),
        (_, Err(diags)) => {
            assert!(!diags.is_empty(), "a refusal says why");
            for d in diags {
                assert!(
                    !d.message.trim().is_empty(),
                    "a diagnostic has a message: {d:?}"
                );
                assert_eq!(d.file, Path::new("p.yaml"), "{d:?}");
                // libyaml ends the text with a line break of its own: its
                // end-of-text errors stand at the start of the line after.
                let end = d.line == lines + 1 && d.column == 1;
                assert!(
                    end || (1..=lines).contains(&d.line) && (1..=widest + 1).contains(&d.column),
                    "a diagnostic points inside the text ({lines} lines, {widest} wide): {d:?}"
                );
            }
        }
        _ => {}
    }
});
