//! A rendered report printed to PDF by headless Chromium.

use super::Error;
use std::path::{Path, PathBuf};

/// Print `html` to PDF with headless Chromium (`TOUCHPOINT_CHROMIUM`, else
/// `chromium` / `chromium-browser` / `google-chrome` on the PATH).
pub fn print(html: &Path) -> Result<PathBuf, Error> {
    let browser = std::env::var("TOUCHPOINT_CHROMIUM")
        .ok()
        .into_iter()
        .chain(["chromium", "chromium-browser", "google-chrome"].map(String::from))
        .find(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .ok_or_else(|| Error::Pdf {
            reason: "Chromium is not installed".into(),
        })?;
    let out = html.with_extension("pdf");
    // A fresh profile per print: Chromium refuses to share one.
    let profile = std::env::temp_dir().join(format!("touchpoint-pdf-{}", std::process::id()));
    let abs = std::fs::canonicalize(html).map_err(|e| Error::Pdf {
        reason: e.to_string(),
    })?;
    let status = std::process::Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--print-to-pdf={}", out.display()))
        .arg(format!("file://{}", abs.display()))
        .output()
        .map_err(|e| Error::Pdf {
            reason: e.to_string(),
        })?;
    let _ = std::fs::remove_dir_all(&profile);
    if !status.status.success() || !out.is_file() {
        return Err(Error::Pdf {
            reason: format!(
                "{browser} failed: {}",
                String::from_utf8_lossy(&status.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ),
        });
    }
    Ok(out)
}
