//! A progress bar per source load when stderr is a terminal: bytes of the
//! period's files read, files, rows and rows/s, ETA. Elsewhere (CI, pipes,
//! `--json` consumers) the run prints plain log lines only.

use crate::sources::LoadStats;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

/// Loads run side by side: their bars share one drawing area.
static BARS: LazyLock<MultiProgress> = LazyLock::new(MultiProgress::new);

/// A live bar and the task that refreshes it from the load's counters.
pub struct Bar {
    bar: ProgressBar,
    ticker: tokio::task::JoinHandle<()>,
}

impl Bar {
    pub fn start(label: String, files: usize, bytes: u64, stats: Arc<Mutex<LoadStats>>) -> Bar {
        let bar = BARS.add(ProgressBar::new(bytes.max(1)));
        let style = ProgressStyle::with_template(
            "{prefix:>22} [{bar:28}] {binary_bytes}/{binary_total_bytes} ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(label);
        bar.enable_steady_tick(Duration::from_millis(200));
        let b = bar.clone();
        let started = Instant::now();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let Ok(s) = stats.lock().map(|s| (s.files, s.bytes, s.rows_read)) else {
                    break;
                };
                let (done, read, rows) = s;
                let secs = started.elapsed().as_secs_f64().max(0.001);
                b.set_position(read);
                b.set_message(format!(
                    "{done}/{files} files, {rows} rows, {:.0}k rows/s",
                    rows as f64 / secs / 1000.0
                ));
            }
        });
        Bar { bar, ticker }
    }

    pub fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}

/// Bars only on an interactive terminal, unless turned off.
pub fn wanted(off: bool) -> bool {
    use std::io::IsTerminal;
    !off && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()
}
