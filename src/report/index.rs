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
    // `name-YYYY-MM[-…].html` or `name-YYYY-Qn[-…].html`: group by period.
    let mut by_period: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &files {
        let stem = f.trim_end_matches(".html");
        let period = stem
            .match_indices('-')
            .map(|(i, _)| &stem[i + 1..])
            .find(|rest| {
                rest.len() >= 7
                    && rest[..4].chars().all(|c| c.is_ascii_digit())
                    && &rest[4..5] == "-"
            })
            .map(|rest| rest[..7].to_string())
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
