//! An extract file, on local disk or in an object store, and how to find a
//! source's files for a period.
//!
//! Readers work on local files (the CSV, JSON-lines and Parquet parsers want
//! `Read + Seek`), so an object is first streamed to a private temporary
//! file: memory stays bounded by the copy buffer, not by the file size.

use super::Error;
use super::{Compression, Format, Source};
use crate::period::Period;
use futures::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use url::Url;

#[derive(Clone)]
pub struct ExtractFile {
    /// How the file is named in quarantine rows and errors: a path or a URL.
    pub name: String,
    pub size: u64,
    /// What says the file changed besides its size: the modification time
    /// (nanoseconds) on disk, the ETag (or last-modified time) in a store.
    pub version: String,
    at: Where,
}

#[derive(Clone)]
enum Where {
    Local(PathBuf),
    Remote(Arc<dyn ObjectStore>, StorePath),
}

impl std::fmt::Debug for ExtractFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// A local copy of an extract, removed when dropped (if it was a copy).
pub struct LocalCopy {
    pub path: PathBuf,
    temporary: bool,
    /// BLAKE3 of the file's bytes as delivered (before inflating or
    /// transcoding), recorded in `_loaded_files`.
    pub checksum: String,
}

impl LocalCopy {
    /// A new private scratch file, removed when the copy is dropped.
    fn scratch(ext: &str) -> std::io::Result<(LocalCopy, std::fs::File)> {
        let (path, file) = super::scratch::create(ext)?;
        let copy = LocalCopy {
            path,
            temporary: true,
            checksum: String::new(),
        };
        Ok((copy, file))
    }
}

impl Drop for LocalCopy {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl ExtractFile {
    pub fn local(path: PathBuf) -> Self {
        let meta = std::fs::metadata(&path).ok();
        let size = meta.as_ref().map(|m| m.len()).unwrap_or(0);
        let version = meta
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos().to_string())
            .unwrap_or_default();
        ExtractFile {
            name: path.display().to_string(),
            size,
            version,
            at: Where::Local(path),
        }
    }

    /// A local file's path relative to `root`, if it lies under it.
    fn path_within(&self, root: &Path) -> Option<String> {
        match &self.at {
            Where::Local(p) => p.strip_prefix(root).ok().map(|r| r.display().to_string()),
            Where::Remote(..) => None,
        }
    }

    /// The checksum of a file on local disk, without copying it; `None` for
    /// an object (deciding whether it changed must not download it).
    pub fn local_checksum(&self) -> Option<String> {
        match &self.at {
            Where::Local(p) => checksum(p).ok(),
            Where::Remote(..) => None,
        }
    }

    /// The file on local disk as UTF-8 text (or Parquet): an object is
    /// downloaded, a `.gz` / `.zst` file inflated and a declared encoding
    /// transcoded, each into a private temporary file.
    /// Call from a blocking thread inside the Tokio runtime. A broken
    /// compressed stream is [`Error::Corrupt`]: the file is quarantined
    /// before any of its rows is read.
    pub fn local_copy(&self, src: &Source) -> Result<LocalCopy, Error> {
        let mut copy = self.raw_copy(&src.name)?;
        let sum = checksum(&copy.path).map_err(|e| self.fail(src)(e.to_string()))?;
        let codec = Compression::of(src.compression, &self.name);
        if codec != Compression::None {
            copy = self.inflate(src, &copy, codec)?;
        }
        // Fixed-width positions are bytes of the original encoding: that
        // reader decodes field by field itself.
        let fixed = matches!(src.format, Format::FixedWidth(_));
        if let Some(enc) = src.encoding.filter(|_| !fixed) {
            copy = self.transcode(src, &copy, enc)?;
        }
        copy.checksum = sum;
        Ok(copy)
    }

    fn fail(&self, src: &Source) -> impl Fn(String) -> Error {
        let (source_name, file) = (src.name.clone(), self.name.clone());
        move |reason| Error::Read {
            source_name: source_name.clone(),
            file: file.clone(),
            reason,
        }
    }

    fn inflate(
        &self,
        src: &Source,
        raw: &LocalCopy,
        codec: Compression,
    ) -> Result<LocalCopy, Error> {
        let fail = self.fail(src);
        let corrupt = |e: std::io::Error| Error::Corrupt {
            source_name: src.name.clone(),
            file: self.name.clone(),
            reason: format!("{codec:?} stream: {e}").to_lowercase(),
        };
        let (copy, file) = LocalCopy::scratch("").map_err(|e| fail(e.to_string()))?;
        let input = std::io::BufReader::new(
            std::fs::File::open(&raw.path).map_err(|e| fail(e.to_string()))?,
        );
        let mut out = std::io::BufWriter::new(file);
        let decoder: Box<dyn std::io::Read> = match codec {
            // Multi-member gzip (concatenated files) is valid gzip.
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
            _ => Box::new(zstd::stream::read::Decoder::with_buffer(input).map_err(corrupt)?),
        };
        // A few hundred bytes can inflate to terabytes: past the cap the
        // file is quarantined whole, before it fills the disk.
        let packed = std::fs::metadata(&raw.path).map(|m| m.len()).unwrap_or(0);
        let cap = inflation_cap(packed);
        let inflated =
            std::io::copy(&mut std::io::Read::take(decoder, cap + 1), &mut out).map_err(corrupt)?;
        if inflated > cap {
            return Err(Error::Corrupt {
                source_name: src.name.clone(),
                file: self.name.clone(),
                reason: format!(
                    "inflates past {cap} bytes ({packed} compressed); raise TOUCHPOINT_MAX_INFLATED_MB if it is genuine"
                ),
            });
        }
        out.flush().map_err(|e| fail(e.to_string()))?;
        Ok(copy)
    }

    /// Re-encode a GBK / GB18030 / Big5 (…) file as UTF-8, line by line (a
    /// newline byte is never part of a character in these encodings). A
    /// byte sequence that is not valid in the encoding becomes the byte
    /// 0xFF, never valid UTF-8, so the reader quarantines that row with
    /// the reason instead of loading a guessed character.
    fn transcode(
        &self,
        src: &Source,
        raw: &LocalCopy,
        enc: &'static encoding_rs::Encoding,
    ) -> Result<LocalCopy, Error> {
        use std::io::BufRead;
        let fail = self.fail(src);
        let (copy, file) = LocalCopy::scratch("").map_err(|e| fail(e.to_string()))?;
        let mut input = std::io::BufReader::with_capacity(
            1 << 16,
            std::fs::File::open(&raw.path).map_err(|e| fail(e.to_string()))?,
        );
        let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
        let mut decoder = enc.new_decoder_without_bom_handling();
        let (mut line, mut buf) = (Vec::new(), vec![0u8; 1 << 14]);
        loop {
            line.clear();
            let n = input
                .read_until(b'\n', &mut line)
                .map_err(|e| fail(e.to_string()))?;
            let last = n == 0;
            let mut rest: &[u8] = &line;
            loop {
                let (result, read, written) =
                    decoder.decode_to_utf8_without_replacement(rest, &mut buf, last);
                out.write_all(&buf[..written])
                    .map_err(|e| fail(e.to_string()))?;
                rest = &rest[read..];
                match result {
                    encoding_rs::DecoderResult::InputEmpty => break,
                    encoding_rs::DecoderResult::OutputFull => {}
                    encoding_rs::DecoderResult::Malformed(_, _) => {
                        out.write_all(&[0xFF]).map_err(|e| fail(e.to_string()))?;
                    }
                }
            }
            if last {
                break;
            }
        }
        out.flush().map_err(|e| fail(e.to_string()))?;
        Ok(copy)
    }

    /// A local file must resolve into the source's root (see [`inside`]).
    pub fn check_inside(&self, src: &Source) -> Result<(), Error> {
        match &self.at {
            Where::Local(p) if p.exists() => inside(src, p),
            _ => Ok(()),
        }
    }

    /// A file in the same folder (or under the same prefix), e.g. a control
    /// file beside an extract.
    pub fn sibling(&self, file_name: &str) -> ExtractFile {
        let swap = |s: &str| match s.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/{file_name}"),
            None => file_name.to_string(),
        };
        match &self.at {
            Where::Local(p) => ExtractFile {
                name: swap(&self.name),
                ..ExtractFile::local(p.with_file_name(file_name))
            },
            Where::Remote(store, path) => ExtractFile {
                name: swap(&self.name),
                size: 0,
                version: String::new(),
                at: Where::Remote(store.clone(), StorePath::from(swap(path.as_ref()))),
            },
        }
    }

    /// Size and version as a listing would give them (zero and empty when
    /// the file is missing).
    async fn stat(&self) -> (u64, String) {
        match &self.at {
            Where::Local(_) => (self.size, self.version.clone()),
            Where::Remote(store, path) => match store.head(path).await {
                Ok(m) => (
                    m.size,
                    m.e_tag.unwrap_or_else(|| m.last_modified.to_rfc3339()),
                ),
                Err(_) => (0, String::new()),
            },
        }
    }

    /// The file's bytes as delivered, on local disk (an object is
    /// downloaded to a temporary file, removed when the copy is dropped).
    pub fn raw_copy(&self, source_name: &str) -> Result<LocalCopy, Error> {
        match &self.at {
            Where::Local(p) => Ok(LocalCopy {
                path: p.clone(),
                temporary: false,
                checksum: String::new(),
            }),
            Where::Remote(store, path) => {
                let fail = |reason: String| Error::Read {
                    source_name: source_name.to_string(),
                    file: self.name.clone(),
                    reason,
                };
                let ext = Path::new(path.as_ref())
                    .extension()
                    .map(|e| format!(".{}", e.to_string_lossy()))
                    .unwrap_or_default();
                // Owns the file from here on, so an error below removes it.
                let (copy, file) = LocalCopy::scratch(&ext).map_err(|e| fail(e.to_string()))?;
                let mut out = std::io::BufWriter::new(file);
                let handle = tokio::runtime::Handle::current();
                handle.block_on(async {
                    let got = store.get(path).await.map_err(|e| fail(e.to_string()))?;
                    let mut chunks = got.into_stream();
                    while let Some(chunk) = chunks.next().await {
                        let chunk = chunk.map_err(|e| fail(e.to_string()))?;
                        out.write_all(&chunk).map_err(|e| fail(e.to_string()))?;
                    }
                    out.flush().map_err(|e| fail(e.to_string()))
                })?;
                Ok(copy)
            }
        }
    }
}

fn checksum(path: &Path) -> std::io::Result<String> {
    let mut h = blake3::Hasher::new();
    h.update_reader(std::fs::File::open(path)?)?;
    Ok(h.finalize().to_hex().to_string())
}

/// The most a compressed extract may inflate to: 200 times its size (at
/// least 64 MiB), and never more than `TOUCHPOINT_MAX_INFLATED_MB` (16 GiB).
fn inflation_cap(packed: u64) -> u64 {
    let absolute = std::env::var("TOUCHPOINT_MAX_INFLATED_MB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(16 * 1024)
        .saturating_mul(1 << 20);
    packed.saturating_mul(200).max(64 << 20).min(absolute)
}

/// Files of `src` for `period` (all files for a snapshot), sorted so loads
/// are repeatable.
pub async fn files_for(src: &Source, period: Option<Period>) -> Result<Vec<ExtractFile>, Error> {
    let pattern = match period {
        Some(p) if src.is_periodic() => p.expand(&src.pattern),
        _ => crate::period::any_period(&src.pattern),
    };
    let perr = |reason: String| Error::Pattern {
        source_name: src.name.clone(),
        pattern: pattern.clone(),
        reason,
    };
    let mut files = if crate::store::is_url(&pattern) {
        list_remote(&pattern).await.map_err(perr)?
    } else {
        let mut out = Vec::new();
        for p in glob::glob(&pattern)
            .map_err(|e| perr(e.to_string()))?
            .filter_map(|r| r.ok())
            .filter(|p| p.is_file())
        {
            inside(src, &p)?;
            let mut f = ExtractFile::local(p);
            // Named from the project's folder: the same file in a copy of
            // the project (a new checkout, CI) is the same file.
            if let Some(rel) = src.root.as_ref().and_then(|r| f.path_within(r)) {
                f.name = rel;
            }
            out.push(f);
        }
        out
    };
    files.sort_by(|a, b| a.name.cmp(&b.name));
    // A control file is part of its extract: a new one must reload it.
    if let Some(super::Control {
        at: super::ControlAt::File(template),
        ..
    }) = &src.control
    {
        for f in &mut files {
            let ctl = f.sibling(&super::control::file_name(&f.name, template));
            let (size, version) = ctl.stat().await;
            f.version = format!("{}{CONTROL_MARK}{size}:{version}", f.version);
        }
    }
    Ok(files)
}

/// A local file must resolve (links followed) into the source's root: a
/// link under the extracts folder to `/etc/passwd` would otherwise load its
/// lines, and quarantine them for analysts to read.
fn inside(src: &Source, p: &Path) -> Result<(), Error> {
    let Some(root) = &src.root else {
        return Ok(());
    };
    let real = crate::spec::real(p);
    if real.starts_with(crate::spec::real(root)) {
        Ok(())
    } else {
        Err(Error::Outside {
            source_name: src.name.clone(),
            file: p.display().to_string(),
            target: real.display().to_string(),
        })
    }
}

/// Joins an extract's version to its control file's.
pub const CONTROL_MARK: &str = "+control:";

/// Objects matching a URL glob such as `s3://bank/raw/atm/2024/*/atm_*.csv`:
/// list under the part before the first wildcard, then match the rest.
async fn list_remote(pattern: &str) -> Result<Vec<ExtractFile>, String> {
    let wild = pattern.find(['*', '?', '[']).unwrap_or(pattern.len());
    let fixed = &pattern[..wild];
    let listing_root = &fixed[..fixed.rfind('/').map(|i| i + 1).unwrap_or(fixed.len())];
    let url = Url::parse(listing_root).map_err(|e| e.to_string())?;
    let (store, prefix) = crate::store::open(&url).map_err(|e| e.to_string())?;
    // The key pattern: the store path of the fixed part, then the wildcards.
    let key_pattern = format!(
        "{}{}{}",
        prefix.as_ref(),
        if prefix.as_ref().is_empty() { "" } else { "/" },
        &pattern[listing_root.len()..]
    );
    let matcher = glob::Pattern::new(&key_pattern).map_err(|e| e.to_string())?;
    let opts = glob::MatchOptions {
        require_literal_separator: true,
        ..Default::default()
    };
    // Objects are named `scheme://bucket/key` in quarantine rows.
    let base = &url[..url::Position::BeforePath];
    let mut listed = store.list(Some(&prefix));
    let mut out = Vec::new();
    while let Some(meta) = listed.next().await {
        let meta = meta.map_err(|e| e.to_string())?;
        if matcher.matches_with(meta.location.as_ref(), opts) {
            out.push(ExtractFile {
                name: format!("{base}/{}", meta.location),
                size: meta.size,
                version: meta
                    .e_tag
                    .clone()
                    .unwrap_or_else(|| meta.last_modified.to_rfc3339()),
                at: Where::Remote(store.clone(), meta.location),
            });
        }
    }
    Ok(out)
}
