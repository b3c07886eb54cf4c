//! `touchpoint` binary: parse arguments, run, map errors to exit codes.

use clap::Parser;
use std::io::Write;

/// Two malloc arenas for the whole process unless `MALLOC_ARENA_MAX` says
/// otherwise. With glibc's default (eight per core) memory freed by the
/// loads' threads stays resident while the models run: a 100k-customer
/// year peaked at 1.3-1.5 GB, with two arenas at 0.77-0.80 GB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called first thing in main, before any other thread
        // exists; mallopt only sets an allocator parameter.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() {
    limit_malloc_arenas();
    let cli = touchpoint::cli::Cli::parse();
    // Deep plans (a cluster decodes them recursively) need more than
    // tokio's 2 MiB worker stacks; the memory is only reserved.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(16 * 1024 * 1024)
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
