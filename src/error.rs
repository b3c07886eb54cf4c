//! The crate error: each module's own error folded in, rendered for people
//! by the CLI with one `help:` line where there is something to do, and
//! one exit code per kind (Vector's): 0 ok, 1 a pipeline or data failure,
//! 2 a usage mistake, 78 an invalid configuration.

use crate::spec::Diagnostic;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pipeline does not validate; every problem is listed.
    #[error("{}", render_diagnostics(.0))]
    Invalid(Vec<Diagnostic>),
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::Error),
    #[error(transparent)]
    Warehouse(#[from] crate::warehouse::Error),
    #[error(transparent)]
    Source(#[from] crate::sources::Error),
    #[error(transparent)]
    Discover(#[from] crate::sources::discover::Error),
    #[error(transparent)]
    Model(#[from] crate::models::Error),
    #[error(transparent)]
    Report(#[from] crate::report::Error),
    #[error(transparent)]
    Sql(#[from] crate::sql::Error),
    #[error(transparent)]
    Serve(#[from] crate::serve::Error),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::Error),
    #[error(transparent)]
    Generate(#[from] crate::generate::GenerateError),
    #[error(transparent)]
    Period(#[from] crate::period::Error),
    /// A command line that cannot be run as given.
    #[error("{message}")]
    Usage { message: String, help: String },
    /// `touchpoint test`: model unit tests failed (each was printed).
    #[error("{0} model test(s) failed")]
    TestsFailed(usize),
    #[error("cannot write `{path}`: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl Error {
    pub fn usage(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Usage {
            message: message.into(),
            help: help.into(),
        }
    }

    /// 2 for a usage mistake, 78 for an invalid pipeline, 1 for the rest.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) => 78,
            Error::Usage { .. } | Error::Period(_) => 2,
            Error::Report(e) if e.is_usage() => 2,
            Error::Sql(e) if e.is_usage() => 2,
            _ => 1,
        }
    }

    /// A `help:` line for the person at the terminal, when we know one.
    pub fn help(&self) -> Option<String> {
        self.own_help()
            .or_else(|| crate::engine::memory_help(&self.to_string()))
    }

    fn own_help(&self) -> Option<String> {
        match self {
            Error::Usage { help, .. } => Some(help.clone()),
            Error::Pipeline(e) => e.help(),
            Error::Warehouse(e) => e.help(),
            Error::Source(e) => e.help(),
            Error::Model(e) => e.help(),
            Error::Report(e) => e.help(),
            Error::Sql(e) => e.help(),
            Error::Serve(e) => e.help(),
            Error::Cluster(e) => e.help(),
            Error::Period(e) => e.help(),
            Error::Invalid(_)
            | Error::Discover(_)
            | Error::Generate(_)
            | Error::TestsFailed(_)
            | Error::Io { .. } => None,
        }
    }
}

fn render_diagnostics(d: &[Diagnostic]) -> String {
    let mut s = String::new();
    for x in d {
        s.push_str(&x.to_string());
        s.push('\n');
    }
    s.push_str(&format!(
        "{} error{} found",
        d.len(),
        if d.len() == 1 { "" } else { "s" }
    ));
    s
}
