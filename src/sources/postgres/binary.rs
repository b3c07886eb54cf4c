//! PostgreSQL's binary `COPY … TO STDOUT` format, read incrementally: a
//! signature and header, then one tuple after another (a field count, and
//! per field a length, -1 for null, and its bytes), then a trailer (-1).
//! The server sends the stream in messages of any size, so a tuple may
//! arrive in pieces: bytes wait in a buffer until their tuple is whole.
//! Complete tuples are gathered into [`Rows`]: one contiguous buffer and a
//! (start, length) per field, so each column can be decoded in one pass.

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// A batch of tuples: their field bytes, one after another, and where each
/// field lies (`len` -1 is null).
#[derive(Debug, Default)]
pub struct Rows {
    pub data: Vec<u8>,
    /// Row-major: row `r`, column `c` is `fields[r * ncols + c]`.
    fields: Vec<(u32, i32)>,
    pub ncols: usize,
}

impl Rows {
    pub fn new(ncols: usize) -> Self {
        Rows {
            ncols,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.fields.len().checked_div(self.ncols).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn clear(&mut self) {
        self.data.clear();
        self.fields.clear();
    }

    /// The bytes of a field, `None` for null.
    #[inline]
    pub fn field(&self, row: usize, col: usize) -> Option<&[u8]> {
        let (start, len) = self.fields[row * self.ncols + col];
        if len < 0 {
            return None;
        }
        let start = start as usize;
        Some(&self.data[start..start + len as usize])
    }
}

/// Reads a COPY stream's chunks into tuples.
#[derive(Debug)]
pub struct Parser {
    buf: Vec<u8>,
    /// How much of `buf` has been consumed.
    pos: usize,
    header: bool,
    ncols: usize,
    done: bool,
}

impl Parser {
    pub fn new(ncols: usize) -> Self {
        Parser {
            buf: Vec::new(),
            pos: 0,
            header: false,
            ncols,
            done: false,
        }
    }

    /// Whether the trailer has been read.
    pub fn done(&self) -> bool {
        self.done
    }

    /// Add a chunk of the stream.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > (1 << 20) {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// Move whole tuples into `out` until it holds `max` rows or the buffer
    /// holds no whole tuple. A malformed stream is an error.
    pub fn rows(&mut self, out: &mut Rows, max: usize) -> Result<(), String> {
        if !self.header && !self.read_header()? {
            return Ok(());
        }
        while out.len() < max && !self.done {
            let b = &self.buf[self.pos..];
            if b.len() < 2 {
                return Ok(());
            }
            let count = i16::from_be_bytes([b[0], b[1]]);
            if count == -1 {
                self.done = true;
                self.pos += 2;
                return Ok(());
            }
            if count as usize != self.ncols || count < 0 {
                return Err(format!(
                    "a row with {count} fields where {} were asked for",
                    self.ncols
                ));
            }
            // Measure the tuple before copying anything.
            let mut at = 2usize;
            let mut whole = true;
            for _ in 0..self.ncols {
                if b.len() < at + 4 {
                    whole = false;
                    break;
                }
                let len = i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
                at += 4;
                if len < -1 {
                    return Err(format!("a field of length {len}"));
                }
                if len > 0 {
                    if b.len() < at + len as usize {
                        whole = false;
                        break;
                    }
                    at += len as usize;
                }
            }
            if !whole {
                return Ok(());
            }
            let mut at = 2usize;
            for _ in 0..self.ncols {
                let len = i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
                at += 4;
                let start = out.data.len();
                if len > 0 {
                    out.data.extend_from_slice(&b[at..at + len as usize]);
                    at += len as usize;
                }
                let start =
                    u32::try_from(start).map_err(|_| "a batch of rows over 4 GiB".to_string())?;
                out.fields.push((start, len));
            }
            self.pos += at;
        }
        Ok(())
    }

    /// Read the signature, flags and header extension, once whole.
    fn read_header(&mut self) -> Result<bool, String> {
        let b = &self.buf[self.pos..];
        if b.len() < 19 {
            return Ok(false);
        }
        if &b[..11] != SIGNATURE {
            return Err("not a binary COPY stream".into());
        }
        let flags = u32::from_be_bytes([b[11], b[12], b[13], b[14]]);
        if flags & (1 << 16) != 0 {
            return Err("the stream carries OIDs".into());
        }
        let ext = u32::from_be_bytes([b[15], b[16], b[17], b[18]]) as usize;
        if b.len() < 19 + ext {
            return Ok(false);
        }
        self.pos += 19 + ext;
        self.header = true;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A COPY stream of `rows` (each a list of optional fields).
    pub(crate) fn stream(rows: &[Vec<Option<&[u8]>>]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        for r in rows {
            out.extend_from_slice(&(r.len() as i16).to_be_bytes());
            for f in r {
                match f {
                    None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                    Some(b) => {
                        out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                        out.extend_from_slice(b);
                    }
                }
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    /// Tuples split at every possible byte read the same as whole ones.
    #[test]
    fn tuples_arrive_in_any_pieces() {
        let rows: Vec<Vec<Option<&[u8]>>> = vec![
            vec![Some(b"abc"), None],
            vec![Some("香港".as_bytes()), Some(b"")],
            vec![None, Some(&[1, 2, 3, 4])],
        ];
        let s = stream(&rows);
        for cut in 1..s.len() {
            let mut p = Parser::new(2);
            let mut out = Rows::new(2);
            p.push(&s[..cut]);
            p.rows(&mut out, 100).expect("first part");
            p.push(&s[cut..]);
            p.rows(&mut out, 100).expect("second part");
            assert!(p.done(), "cut at {cut}");
            assert_eq!(out.len(), 3);
            assert_eq!(out.field(0, 0), Some(&b"abc"[..]));
            assert_eq!(out.field(0, 1), None);
            assert_eq!(out.field(1, 0), Some("香港".as_bytes()));
            assert_eq!(out.field(1, 1), Some(&b""[..]));
            assert_eq!(out.field(2, 1), Some(&[1u8, 2, 3, 4][..]));
        }
        // A batch stops at its size and resumes.
        let mut p = Parser::new(2);
        let mut out = Rows::new(2);
        p.push(&s);
        p.rows(&mut out, 2).expect("two");
        assert_eq!(out.len(), 2);
        out.clear();
        p.rows(&mut out, 2).expect("rest");
        assert_eq!(out.len(), 1);
        assert!(p.done());
    }

    #[test]
    fn malformed_streams_fail() {
        let mut p = Parser::new(2);
        p.push(b"PGCOPY\n\xff\r\n\x01garbage....");
        assert!(p.rows(&mut Rows::new(2), 10).is_err());
        let s = stream(&[vec![Some(b"x")]]);
        let mut p = Parser::new(2);
        p.push(&s);
        assert!(p.rows(&mut Rows::new(2), 10).is_err(), "wrong field count");
        let mut bad = stream(&[]);
        bad.truncate(19);
        bad.extend_from_slice(&1i16.to_be_bytes());
        bad.extend_from_slice(&(-7i32).to_be_bytes());
        let mut p = Parser::new(1);
        p.push(&bad);
        assert!(p.rows(&mut Rows::new(1), 10).is_err(), "negative length");
    }
}
