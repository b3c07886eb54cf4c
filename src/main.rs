//! `touchpoint` binary: parse arguments, run, map errors to exit codes.

use clap::Parser;
use std::io::Write;

fn main() {
    let cli = touchpoint::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(touchpoint::cli::run(cli));
    if let Err(e) = result {
        // `touchpoint query … | head` closes stdout early: that is not an error.
        if let touchpoint::Error::Io { source, .. } = &e
            && source.kind() == std::io::ErrorKind::BrokenPipe
        {
            std::process::exit(0);
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "error: {e}");
        if let Some(h) = e.help() {
            let _ = writeln!(err, "  help: {h}");
        }
        std::process::exit(e.exit_code());
    }
}
