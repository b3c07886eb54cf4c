//! Key digests for the duplicate check: XXH3-128 of a row's key columns,
//! hashed as stored (not formatted).

use super::*;

/// See [`Conformer::digest`]; `buf` is reused scratch space.
pub(super) fn key_digest(keys: &[KeyCol], row: usize, seed: u64, buf: &mut Vec<u8>) -> u128 {
    if let [k] = keys {
        return k.digest(row, seed);
    }
    buf.clear();
    for k in keys {
        buf.extend_from_slice(&k.digest(row, seed).to_le_bytes());
    }
    twox_hash::XxHash3_128::oneshot_with_seed(seed, buf)
}

/// A key column, downcast once per batch for hashing.
pub(super) enum KeyCol<'a> {
    Text(&'a StringArray),
    Int(&'a Int64Array),
    Date(&'a Date32Array),
    Time(&'a TimestampMicrosecondArray),
    Dec(&'a Decimal128Array),
    Other(&'a ArrayRef),
}

impl<'a> KeyCol<'a> {
    pub(super) fn of(a: &'a ArrayRef) -> Self {
        let any = a.as_any();
        if let Some(x) = any.downcast_ref::<StringArray>() {
            KeyCol::Text(x)
        } else if let Some(x) = any.downcast_ref::<Int64Array>() {
            KeyCol::Int(x)
        } else if let Some(x) = any.downcast_ref::<Date32Array>() {
            KeyCol::Date(x)
        } else if let Some(x) = any.downcast_ref::<TimestampMicrosecondArray>() {
            KeyCol::Time(x)
        } else if let Some(x) = any.downcast_ref::<Decimal128Array>() {
            KeyCol::Dec(x)
        } else {
            KeyCol::Other(a)
        }
    }

    /// A value's XXH3-128 digest: text by its bytes, numbers by their
    /// fixed-width bytes. A null digests as nothing under another seed, so
    /// it is told from any value, the empty text included.
    fn digest(&self, row: usize, seed: u64) -> u128 {
        use twox_hash::XxHash3_128 as H;
        let array: &dyn Array = match self {
            KeyCol::Text(a) => *a,
            KeyCol::Int(a) => *a,
            KeyCol::Date(a) => *a,
            KeyCol::Time(a) => *a,
            KeyCol::Dec(a) => *a,
            KeyCol::Other(a) => a.as_ref(),
        };
        if array.is_null(row) {
            return H::oneshot_with_seed(!seed, &[]);
        }
        match self {
            KeyCol::Text(a) => H::oneshot_with_seed(seed, a.value(row).as_bytes()),
            KeyCol::Int(a) => H::oneshot_with_seed(seed, &a.value(row).to_le_bytes()),
            KeyCol::Date(a) => H::oneshot_with_seed(seed, &a.value(row).to_le_bytes()),
            KeyCol::Time(a) => H::oneshot_with_seed(seed, &a.value(row).to_le_bytes()),
            KeyCol::Dec(a) => H::oneshot_with_seed(seed, &a.value(row).to_le_bytes()),
            KeyCol::Other(a) => H::oneshot_with_seed(
                seed,
                array_value_to_string(a, row).unwrap_or_default().as_bytes(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_digests_tell_keys_apart() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            Some("ab"),
            Some("a"),
            None,
            Some(""),
            Some("a"),
        ]));
        let b: ArrayRef = Arc::new(StringArray::from(vec![
            Some("bc"),
            Some("c"),
            Some("bc"),
            Some("x"),
            Some("x"),
            Some("x"),
        ]));
        let n: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 1, 2, 2, 3]));
        let mut buf = Vec::new();
        let seed = 7;
        let two = [KeyCol::of(&a), KeyCol::of(&b)];
        let d: Vec<u128> = (0..6)
            .map(|r| key_digest(&two, r, seed, &mut buf))
            .collect();
        // Equal keys agree; values that run into each other when joined,
        // a null and the empty text, and different values do not.
        assert_eq!(d[0], d[2]);
        assert_ne!(d[0], d[1]);
        assert_ne!(d[3], d[4]);
        assert_ne!(d[4], d[5]);
        let one = [KeyCol::of(&a)];
        assert_eq!(
            key_digest(&one, 0, seed, &mut buf),
            key_digest(&one, 5, seed, &mut buf)
        );
        assert_ne!(
            key_digest(&one, 3, seed, &mut buf),
            key_digest(&one, 4, seed, &mut buf)
        );
        // Numbers by value; the order of a key's columns matters.
        let num = [KeyCol::of(&n)];
        assert_eq!(
            key_digest(&num, 0, seed, &mut buf),
            key_digest(&num, 2, seed, &mut buf)
        );
        assert_ne!(
            key_digest(&num, 2, seed, &mut buf),
            key_digest(&num, 3, seed, &mut buf)
        );
        let ab = [KeyCol::of(&a), KeyCol::of(&a)];
        assert_eq!(
            key_digest(&ab, 0, seed, &mut buf),
            key_digest(&ab, 2, seed, &mut buf)
        );
        let (xy, yx) = (
            [KeyCol::of(&a), KeyCol::of(&b)],
            [KeyCol::of(&b), KeyCol::of(&a)],
        );
        assert_ne!(
            key_digest(&xy, 0, seed, &mut buf),
            key_digest(&yx, 0, seed, &mut buf)
        );
    }
}
