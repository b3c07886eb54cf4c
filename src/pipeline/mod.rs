//! A validated pipeline that later code can trust, and running it.
//!
//! [`spec`] reads the pipeline file; [`compile`] has each concept compile
//! its part (paths resolved and confined to the project, types parsed, SQL
//! planned against the declared schemas, models ordered), collecting every
//! problem; [`run`] loads sources, builds models and runs checks into the
//! warehouse; [`graph`] draws what reads what.

pub mod compile;
mod error;
pub mod graph;
pub mod maintain;
pub mod run;
pub mod spec;

pub use compile::{Overrides, compile, compile_with};
pub use error::{Error, Result};

use crate::access::Policy;
use crate::checks::Check;
use crate::models::{Model, Schemas, Seed, UnitTest};
use crate::report::Report;
use crate::sources::Source;
use crate::spec::Project;
use crate::store::ProfilesSpec;
use chrono_tz::Tz;

#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The pipeline file, its folder and its project.
    pub project: Project,
    pub name: String,
    pub description: Option<String>,
    pub timezone: Tz,
    /// The currency amounts are in (empty when not declared).
    pub currency: String,
    pub warehouse: Option<String>,
    /// Where SQL executes (`engine:`, or `TOUCHPOINT_ENGINE`).
    pub engine: crate::engine::Engine,
    /// How long replaced table versions stay readable (`retention:`).
    pub retention: std::time::Duration,
    /// Credential profile names for the extracts' and warehouse's stores.
    pub profiles: ProfilesSpec,
    pub seeds: Vec<Seed>,
    pub sources: Vec<Source>,
    /// In dependency order.
    pub models: Vec<Model>,
    pub reports: Vec<Report>,
    /// Data-quality checks, run after the models.
    pub checks: Vec<Check>,
    /// Model unit tests (`touchpoint test`).
    pub tests: Vec<UnitTest>,
    /// Who sees which personal columns how.
    pub access: Policy,
    /// Every table's schema: seeds, sources, bookkeeping tables, models.
    pub schemas: Schemas,
}

impl Pipeline {
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }

    pub fn report(&self, name: &str) -> Option<&Report> {
        self.reports.iter().find(|r| r.name == name)
    }

    /// The report `demo` prints: the one marked `default`, else the first.
    pub fn default_report(&self) -> Option<&Report> {
        self.reports
            .iter()
            .find(|r| r.default)
            .or(self.reports.first())
    }

    /// A report by name, or an error listing the pipeline's reports.
    pub fn find_report(&self, name: &str) -> Result<&Report, crate::report::Error> {
        self.report(name)
            .ok_or_else(|| crate::report::Error::Unknown {
                name: name.to_string(),
                available: self.reports.iter().map(|r| r.name.clone()).collect(),
            })
    }

    /// What a report needs to know of this pipeline.
    pub fn report_context(&self) -> crate::report::Context {
        crate::report::Context {
            pipeline: self.name.clone(),
            timezone: self.timezone,
            reads: self
                .models
                .iter()
                .map(|m| (m.name.clone(), m.depends_on.clone()))
                .collect(),
        }
    }

    /// Every table name the pipeline produces.
    pub fn table_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.seeds.iter().map(|s| s.name.clone()).collect();
        v.extend(self.sources.iter().map(|s| s.name.clone()));
        v.extend(
            self.sources
                .iter()
                .filter(|s| s.history.is_some())
                .map(|s| crate::sources::history::table_name(&s.name)),
        );
        v.extend(self.models.iter().map(|m| m.name.clone()));
        v
    }

    /// `--warehouse` wins, then the pipeline's `warehouse:` (relative to the
    /// project root), then `./warehouse`.
    /// A store there uses the pipeline's `profiles.warehouse`.
    pub fn warehouse_location(&self, flag: Option<&str>) -> String {
        let location = match (flag, &self.warehouse) {
            (Some(f), _) => f.to_string(),
            (None, Some(w)) if w.contains("://") => w.clone(),
            (None, Some(w)) => self.project.root.join(w).display().to_string(),
            (None, None) => "warehouse".into(),
        };
        crate::store::bind_profile(&location, self.profiles.warehouse.as_deref());
        location
    }
}
