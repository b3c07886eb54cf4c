//! The statistical models behind the analytics steps: BG/NBD and
//! Gamma-Gamma (customer lifetime value), logistic regression (churn risk),
//! and the measures that judge a score on held-out data. Pure numerics;
//! the pipeline steps that feed them from the warehouse are `clv_step` and
//! `churn_step`.

pub mod bgnbd;
pub mod evaluate;
pub mod gamma_gamma;
mod grouped;
pub mod logistic;
pub mod optimize;
pub mod special;
