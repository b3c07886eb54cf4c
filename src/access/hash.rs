//! `personal: hash`: a keyed digest (HMAC-SHA-256, RFC 2104) of a personal
//! value, hex. Joinable across tables and runs that share the key, not
//! readable, and — unlike a plain SHA-256 — not recoverable by hashing every
//! 8-digit phone number, because the key is not in SQL: it lives inside the
//! `pii_hash` function, which plans and EXPLAINs show by name only.
//!
//! The key comes from `TOUCHPOINT_HASH_KEY` or the file `TOUCHPOINT_HASH_KEY_FILE`
//! names (at least 16 bytes). A pipeline with hashed columns and no key
//! cannot be read: readers fail closed.

use datafusion::arrow::array::{Array, ArrayRef, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The secret of `personal: hash` digests. Never printed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HashKey(Arc<[u8]>);

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(…)")
    }
}

/// The variable holding the key itself…
pub const KEY_VAR: &str = "TOUCHPOINT_HASH_KEY";
/// …or the path of a file holding it (a mounted secret).
pub const KEY_FILE_VAR: &str = "TOUCHPOINT_HASH_KEY_FILE";
const MIN_KEY_BYTES: usize = 16;

impl HashKey {
    pub fn new(bytes: &[u8]) -> Result<HashKey, String> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the hash key has {} bytes; it needs at least {MIN_KEY_BYTES}",
                bytes.len()
            ));
        }
        Ok(HashKey(bytes.into()))
    }

    /// The key from the environment, if one is set.
    pub fn from_env() -> Result<Option<HashKey>, String> {
        if let Some(k) = std::env::var_os(KEY_VAR).filter(|k| !k.is_empty()) {
            return HashKey::new(k.as_encoded_bytes())
                .map(Some)
                .map_err(|e| format!("{KEY_VAR}: {e}"));
        }
        let Some(path) = std::env::var_os(KEY_FILE_VAR).filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let bytes = std::fs::read(&path).map_err(|e| {
            format!(
                "{KEY_FILE_VAR}: cannot read `{}`: {e}",
                std::path::Path::new(&path).display()
            )
        })?;
        // A secret file usually ends with a newline that is not part of it.
        let trimmed = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        HashKey::new(trimmed)
            .map(Some)
            .map_err(|e| format!("{KEY_FILE_VAR}: {e}"))
    }

    /// HMAC-SHA-256 of `message` under this key (RFC 2104).
    pub fn mac(&self, message: &[u8]) -> [u8; 32] {
        const BLOCK: usize = 64;
        let mut key = [0u8; BLOCK];
        if self.0.len() > BLOCK {
            key[..32].copy_from_slice(&Sha256::digest(&self.0));
        } else {
            key[..self.0.len()].copy_from_slice(&self.0);
        }
        let pad = |b: u8| key.map(|k| k ^ b);
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(message)
            .finalize();
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize()
            .into()
    }

    /// The digest as readers see it: 64 hex characters.
    pub fn hex(&self, message: &[u8]) -> String {
        use std::fmt::Write;
        self.mac(message)
            .iter()
            .fold(String::with_capacity(64), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
    }

    /// `pii_hash(value)`: the value (of any type, as text) digested.
    pub fn udf(&self) -> ScalarUDF {
        ScalarUDF::from(PiiHash {
            key: self.clone(),
            signature: Signature::any(1, Volatility::Immutable),
        })
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PiiHash {
    key: HashKey,
    signature: Signature,
}

impl ScalarUDFImpl for PiiHash {
    fn name(&self) -> &str {
        "pii_hash"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let text = cast(&arrays[0], &DataType::Utf8)?;
        let text = text
            .as_any()
            .downcast_ref::<datafusion::arrow::array::StringArray>()
            .ok_or_else(|| datafusion::error::DataFusionError::Internal("pii_hash: text".into()))?;
        let mut out = StringBuilder::with_capacity(text.len(), text.len() * 64);
        for v in text.iter() {
            match v {
                Some(v) => out.append_value(self.key.hex(v.as_bytes())),
                None => out.append_null(),
            }
        }
        let out: ArrayRef = Arc::new(out.finish());
        if scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// RFC 4231's HMAC-SHA-256 test cases 2 (short key: padded with
    /// zeros, so 16 bytes of it) and 6 (a key longer than a block).
    #[test]
    fn matches_rfc_4231() {
        // Case 2's key "Jefe" is too short for us; check the primitive on
        // a key built the same way: "Jefe" then zeros, as HMAC pads it.
        let mut jefe = b"Jefe".to_vec();
        jefe.resize(16, 0);
        let k = HashKey::new(&jefe).expect("key");
        assert_eq!(
            hex(&k.mac(b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let long = HashKey::new(&[0xaa; 131]).expect("key");
        assert_eq!(
            hex(&long.mac(b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn short_keys_are_refused_and_never_printed() {
        assert!(HashKey::new(b"short").is_err());
        let k = HashKey::new(b"0123456789abcdef-secret").expect("key");
        assert_eq!(format!("{k:?}"), "HashKey(…)");
        assert!(!format!("{:?}", k.udf()).contains("secret"));
    }
}
