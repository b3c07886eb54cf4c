//! Sets of text values that rows are checked against once per row: the
//! values a `references` column must be one of, and a column's accepted
//! `values`. Identifiers and codes are short, so a value of up to 15 bytes
//! is packed into one integer: membership is an integer hash and compare,
//! not a string compare (a library call) per row.

use datafusion::common::HashSet;

/// `s` packed into a `u128`, when it is at most 15 bytes: its bytes
/// little-endian from bit 0 (zero-padded), its length in the top byte. Two
/// strings pack to the same integer exactly when they are equal.
#[inline]
pub fn pack(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    let n = b.len();
    // Two overlapping fixed-width reads cover any length in a range; the
    // second is shifted so only the bytes past the first remain.
    let v: u128 = if n >= 8 {
        if n > 15 {
            return None;
        }
        let lo = u64::from_le_bytes(b[..8].try_into().ok()?);
        let tail = u64::from_le_bytes(b[n - 8..].try_into().ok()?);
        let hi = tail.checked_shr(((16 - n) * 8) as u32).unwrap_or(0);
        u128::from(lo) | (u128::from(hi) << 64)
    } else if n >= 4 {
        let lo = u32::from_le_bytes(b[..4].try_into().ok()?);
        let tail = u32::from_le_bytes(b[n - 4..].try_into().ok()?);
        let hi = tail.checked_shr(((8 - n) * 8) as u32).unwrap_or(0);
        u128::from(lo) | (u128::from(hi) << 32)
    } else {
        b.iter()
            .enumerate()
            .fold(0, |v, (i, &x)| v | (u128::from(x) << (8 * i)))
    };
    Some(v | ((n as u128) << 120))
}

/// A set of text values (a referenced column's values).
#[derive(Default, Debug)]
pub struct RefSet {
    short: HashSet<u128>,
    long: HashSet<String>,
}

impl RefSet {
    pub fn insert(&mut self, s: &str) {
        match pack(s) {
            Some(p) => {
                self.short.insert(p);
            }
            None => {
                self.long.insert(s.to_string());
            }
        }
    }

    #[inline]
    pub fn contains(&self, s: &str) -> bool {
        match pack(s) {
            Some(p) => self.short.contains(&p),
            None => self.long.contains(s),
        }
    }

    pub fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A column's accepted values: a handful, so a scan beats a hash.
#[derive(Debug, Clone)]
pub struct Accepted {
    short: Vec<u128>,
    long: Vec<String>,
}

impl Accepted {
    pub fn new(values: &[String]) -> Self {
        let mut a = Accepted {
            short: Vec::new(),
            long: Vec::new(),
        };
        for v in values {
            match pack(v) {
                Some(p) => a.short.push(p),
                None => a.long.push(v.clone()),
            }
        }
        a
    }

    #[inline]
    pub fn contains(&self, s: &str) -> bool {
        match pack(s) {
            Some(p) => self.short.contains(&p),
            None => self.long.iter().any(|v| v == s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The packing by the obvious method: copy into 16 bytes, length last.
    fn by_copy(s: &str) -> Option<u128> {
        let b = s.as_bytes();
        if b.len() > 15 {
            return None;
        }
        let mut buf = [0u8; 16];
        buf[..b.len()].copy_from_slice(b);
        buf[15] = b.len() as u8;
        Some(u128::from_le_bytes(buf))
    }

    #[test]
    fn packing_agrees_with_a_byte_copy_at_every_length() {
        let text = "C0012345-香港-ABCDEFGHIJ";
        for end in 0..=text.len() {
            for start in 0..=end {
                if let Some(s) = text.get(start..end) {
                    assert_eq!(pack(s), by_copy(s), "{s:?}");
                }
            }
        }
        // Zero bytes and trailing padding do not alias shorter strings.
        assert_ne!(pack("a\0"), pack("a"));
        assert_ne!(pack(""), pack("\0"));
        assert_eq!(pack("0123456789abcdef"), None);
    }

    #[test]
    fn sets_answer_for_short_and_long_values() {
        let mut r = RefSet::default();
        for v in ["C001", "C002", "a-customer-id-longer-than-15"] {
            r.insert(v);
        }
        assert_eq!(r.len(), 3);
        assert!(r.contains("C001") && r.contains("a-customer-id-longer-than-15"));
        assert!(!r.contains("C003") && !r.contains("C00") && !r.contains("a-customer-id"));
        let a = Accepted::new(&["web".into(), "mobile".into(), "a-very-long-channel".into()]);
        assert!(a.contains("web") && a.contains("a-very-long-channel"));
        assert!(!a.contains("Web") && !a.contains("we") && !a.contains("a-very-long-channeL"));
    }
}
