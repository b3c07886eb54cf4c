//! The functions our plans call, for every process of a cluster: the
//! masks (`pii_mask`, `pii_hash`), the exact percentile, and
//! `touchpoint_version()`, which a client calls on connecting to learn what
//! the cluster runs. Plans name functions; each process resolves the names
//! from this registry, so a stock Ballista process refuses our plans
//! instead of running them without the masks.

use crate::access::HashKey;
use crate::access::mask::mask_udf;
use ballista_core::registry::BallistaFunctionRegistry;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::{
    AggregateUDF, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use std::sync::Arc;

/// The version of the plan encoding (pinned tables); a client and a cluster
/// must agree on it.
pub const CODEC_VERSION: u32 = 2;

/// A deployment's own build tag (a release or commit id), compared too.
pub const BUILD_TAG_VAR: &str = "TOUCHPOINT_BUILD_TAG";

/// What `touchpoint_version()` answers: the version, its plan codec, and
/// the deployment's build tag when one is set.
pub fn version_text() -> String {
    let tag = std::env::var(BUILD_TAG_VAR)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .map(|t| format!(" build {}", t.trim()))
        .unwrap_or_default();
    format!(
        "touchpoint {} (plan codec {CODEC_VERSION}){tag}",
        env!("CARGO_PKG_VERSION")
    )
}

/// Our scalar functions, `pii_hash` keyed from this process's environment
/// (or refusing to run when it has no key: never a clear value).
pub fn scalar() -> Vec<Arc<ScalarUDF>> {
    let hash = match HashKey::from_env() {
        Ok(Some(k)) => k.udf(),
        Ok(None) => ScalarUDF::from(NoKey::new("this process has no hash key".into())),
        Err(e) => ScalarUDF::from(NoKey::new(e)),
    };
    vec![
        Arc::new(mask_udf()),
        Arc::new(hash),
        Arc::new(ScalarUDF::from(Version::default())),
    ]
}

pub fn aggregate() -> Vec<Arc<AggregateUDF>> {
    vec![Arc::new(crate::engine::percentile::udaf())]
}

/// Ballista's functions and ours, for an executor.
pub fn registry() -> BallistaFunctionRegistry {
    let mut r = BallistaFunctionRegistry::default();
    for f in scalar() {
        r.scalar_functions.insert(f.name().to_string(), f);
    }
    for f in aggregate() {
        r.aggregate_functions.insert(f.name().to_string(), f);
    }
    r
}

/// `touchpoint_version()`: volatile, so the planner never folds it on the
/// client; it runs where the plan runs.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Version {
    signature: Signature,
}

impl Default for Version {
    fn default() -> Self {
        Version {
            signature: Signature::nullary(Volatility::Volatile),
        }
    }
}

impl ScalarUDFImpl for Version {
    fn name(&self) -> &str {
        "touchpoint_version"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
            version_text(),
        ))))
    }
}

/// `pii_hash` in a process without the key: every call fails, naming why.
#[derive(Debug, PartialEq, Eq, Hash)]
struct NoKey {
    why: String,
    signature: Signature,
}

impl NoKey {
    fn new(why: String) -> Self {
        NoKey {
            why,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for NoKey {
    fn name(&self) -> &str {
        "pii_hash"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        Err(DataFusionError::Execution(format!(
            "a hashed column cannot be computed here: {} (set {} on every executor)",
            self.why,
            crate::access::hash::KEY_VAR
        )))
    }
}
