//! `index.html`: every rendered report in the output folder, by period.

use super::Error;
use super::charts::esc;
use std::collections::BTreeMap;
use std::path::Path;

/// `index.html`: every rendered report in `out_dir`, newest period first.
pub fn write_index(out_dir: &Path) -> Result<(), Error> {
    let werr = |e: std::io::Error| Error::Write {
        path: out_dir.display().to_string(),
        reason: e.to_string(),
    };
    let mut files: Vec<String> = std::fs::read_dir(out_dir)
        .map_err(werr)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".html") && n != "index.html")
        .collect();
    files.sort();
    // `name-YYYY-MM[-…][.tag].html` or `name-YYYY-Qn[-…][.tag].html`: group by period.
    let mut by_period: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &files {
        let stem = f.trim_end_matches(".html");
        // Bytes, not string slices: a name may hold any character (香港).
        let period = stem
            .match_indices('-')
            .map(|(i, _)| &stem.as_bytes()[i + 1..])
            .find(|rest| {
                rest.len() >= 7 && rest[..4].iter().all(u8::is_ascii_digit) && rest[4] == b'-'
            })
            .map(|rest| String::from_utf8_lossy(&rest[..7]).into_owned())
            .unwrap_or_else(|| "other".into());
        by_period.entry(period).or_default().push(f.clone());
    }
    let mut html = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>Reports</title><style>body{font-family:sans-serif;max-width:800px;margin:24px auto;color:#1b1f24}\
         h2{font-size:16px;border-bottom:1px solid #d0d7de}li{margin:2px 0}</style></head><body>\n<h1>Reports</h1>\n",
    );
    for (period, list) in by_period.iter().rev() {
        html.push_str(&format!("<h2>{}</h2>\n<ul>\n", esc(period)));
        for f in list {
            html.push_str(&format!("<li><a href=\"{0}\">{0}</a></li>\n", esc(f)));
        }
        html.push_str("</ul>\n");
    }
    html.push_str("</body></html>\n");
    std::fs::write(out_dir.join("index.html"), html).map_err(werr)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file named with characters of more than one byte right after a
    /// dash (its "period" part) is listed under "other", not a panic.
    #[test]
    fn any_file_name_is_listed() {
        let dir = tempfile::tempdir().expect("tempdir");
        for f in [
            "x-香港a.html",
            "r-2024-12-九龍.html",
            "r-2024-Q4.html",
            "r-2024-11.zh-CN.html",
            "-.html",
        ] {
            std::fs::write(dir.path().join(f), "<p>").expect("write");
        }
        write_index(dir.path()).expect("index");
        let html = std::fs::read_to_string(dir.path().join("index.html")).expect("read");
        assert!(
            html.contains("x-香港a.html") && html.contains("<h2>other</h2>"),
            "{html}"
        );
        assert!(html.contains("<h2>2024-12</h2>"), "{html}");
        // An edition is listed under its period.
        let nov = html.find("<h2>2024-11</h2>").expect("2024-11");
        assert!(html[nov..].contains("r-2024-11.zh-CN.html"), "{html}");
    }
}
