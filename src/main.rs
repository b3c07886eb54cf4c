//! `touchpoint` binary: parse arguments, run, map errors to exit codes.

use clap::Parser;
use std::io::Write;

/// Two malloc arenas for the whole process unless `MALLOC_ARENA_MAX` says
/// otherwise. With glibc's default (eight per core) memory freed by the
/// loads' threads stays resident while the models run: a 100k-customer
/// year peaked at 1.3-1.5 GB, with two arenas at 0.77-0.80 GB.
///
/// And blocks of 1 MiB or more are mapped on their own, so freeing one
/// gives it back, unless `MALLOC_MMAP_THRESHOLD_` says otherwise. glibc
/// otherwise raises that threshold to the largest block freed so far (up
/// to 32 MiB), after which a write's and a join's buffers come from the
/// arenas and stay there: at 1M customers x 12 months the RSS after
/// `interactions` stayed ~300 MB higher.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    // SAFETY: called first thing in main, before any other thread
    // exists; mallopt only sets an allocator parameter.
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
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
