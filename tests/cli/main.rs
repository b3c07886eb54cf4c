//! Integration tests: the real `touchpoint` binary on temporary projects.

mod analyst;
mod analytics;
mod checks;
mod churn_split;
mod common;
mod control;
mod corrupt;
mod e2e;
mod faults;
mod formats;
mod history;
mod incremental;
mod invalid;
mod maintain;
mod metrics;
mod periods_from_values;
mod pg_parallel;
mod pgserver;
mod postgres;
mod privacy;
mod reconcile;
mod s3;
mod s3_lock;
mod shell;
mod unit;
mod validate;
