//! Integration tests: the real `touchpoint` binary on temporary projects.

mod analyst;
mod analytics;
mod checks;
mod churn_split;
#[cfg(feature = "cluster")]
mod cluster;
mod common;
mod control;
mod corrupt;
mod e2e;
mod editions;
mod faults;
mod formats;
mod history;
mod incremental;
mod incremental_models;
mod invalid;
mod ladder;
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
mod serve;
mod shell;
mod side_by_side;
mod unit;
mod validate;
