//! Integration tests: the real `touchpoint` binary on temporary projects.

mod analyst;
mod analytics;
mod checks;
mod churn_split;
mod common;
mod control;
mod corrupt;
mod e2e;
mod editions;
mod faults;
mod formats;
mod history;
mod incremental;
mod invalid;
mod maintain;
mod metrics;
mod pgserver;
mod postgres;
mod privacy;
mod s3;
mod s3_lock;
mod shell;
mod unit;
mod validate;
