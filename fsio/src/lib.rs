//! Durable file I/O for everything mmstall stores: result files, the nightly
//! history, reports, snapshots and baselines. Written once, used everywhere.
//!
//! - [`write_atomic`]: a file is replaced whole or not at all (temporary file
//!   in the same directory, fsync, rename). On any error the old file is
//!   intact and the error names the file.
//! - [`append_jsonl`]: appends one JSON line; a torn last line (an interrupted
//!   earlier write) is terminated first, so the new record never gets glued
//!   to the fragment.
//! - [`read_jsonl`]: reads a JSON-lines file line by line; a bad line
//!   (invalid UTF-8, not JSON, not the expected record) is skipped and named
//!   with its file and line number, the rest is kept.
//! - [`next_generation`]: the number under which an older generation of a
//!   file is kept (`results.jsonl.1`, `.2`, ...), so nothing is overwritten.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A failed file operation: which file, what was being done, the OS error.
/// The OS error is part of the message (not a separate `source`), so an error
/// chain printer shows it once.
#[derive(Debug, thiserror::Error)]
#[error("{}: {action}: {error}", path.display())]
pub struct FsError {
    pub path: PathBuf,
    pub action: &'static str,
    pub error: io::Error,
}

impl FsError {
    fn new(path: &Path, action: &'static str, error: io::Error) -> FsError {
        FsError {
            path: path.to_path_buf(),
            action,
            error,
        }
    }
}

impl From<FsError> for io::Error {
    fn from(e: FsError) -> io::Error {
        io::Error::new(e.error.kind(), e.to_string())
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Replaces `path` with `bytes`, atomically (see [`write_atomic_with`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Replaces `path` with what `fill` writes: into a temporary file in the same
/// directory, flushed and fsynced, then renamed over `path` (and the
/// directory fsynced). If anything fails (`fill` itself, a full disk, a
/// missing directory) the temporary file is removed, the old `path` is
/// untouched and the error names `path`. An existing file's permissions are
/// kept. The directory must exist. A target that exists and is neither a
/// file nor a directory (`/dev/stdout`, a FIFO) is written directly.
pub fn write_atomic_with<F>(path: &Path, fill: F) -> Result<(), FsError>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        // `-o /dev/stdout`, a FIFO: there is no file to replace.
        let mut f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| FsError::new(path, "cannot open", e))?;
        return fill(&mut f)
            .and_then(|()| f.flush())
            .map_err(|e| FsError::new(path, "cannot write", e));
    }
    let dir = parent_dir(path);
    let name = path.file_name().ok_or_else(|| {
        FsError::new(
            path,
            "cannot write",
            io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
        )
    })?;
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        unique()
    ));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| FsError::new(path, "cannot create a temporary file next to it", e))?;
    let written = (|| -> Result<(), FsError> {
        let mut w = io::BufWriter::new(file);
        fill(&mut w).map_err(|e| FsError::new(path, "cannot write (old file kept)", e))?;
        let file = w
            .into_inner()
            .map_err(|e| FsError::new(path, "cannot write (old file kept)", e.into_error()))?;
        if let Ok(meta) = std::fs::metadata(path) {
            // Best effort: a file the user made read-only for others stays so.
            let _ = file.set_permissions(meta.permissions());
        }
        file.sync_all()
            .map_err(|e| FsError::new(path, "cannot sync (old file kept)", e))?;
        std::fs::rename(&tmp, path)
            .map_err(|e| FsError::new(path, "cannot replace (old file kept)", e))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    // The rename itself is durable once the directory is synced; a
    // filesystem that cannot sync directories has still replaced the file.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// What [`append_jsonl`] found at the end of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// The record was appended after a complete last line (or to a new file).
    Clean,
    /// The file ended in a torn line (no newline): it was terminated first,
    /// so the fragment stays a line of its own that readers skip and name.
    AfterTornLine,
}

/// Appends `value` as one JSON line (creating the file and its directory)
/// and syncs it: what is measured stays measured. A torn last line is
/// terminated first (see [`Appended`]).
pub fn append_jsonl<T: serde::Serialize + ?Sized>(
    path: &Path,
    value: &T,
) -> Result<Appended, FsError> {
    let line = serde_json::to_string(value)
        .map_err(|e| FsError::new(path, "cannot encode a record", io::Error::other(e)))?;
    append_line(path, &line)
}

/// Appends one line (without its newline; it must not contain one), first
/// terminating a torn last line.
pub fn append_line(path: &Path, line: &str) -> Result<Appended, FsError> {
    if line.contains('\n') {
        return Err(FsError::new(
            path,
            "cannot append",
            io::Error::new(io::ErrorKind::InvalidInput, "the line contains a newline"),
        ));
    }
    if let Some(p) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(p)
            .map_err(|e| FsError::new(path, "cannot create its directory", e))?;
    }
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| FsError::new(path, "cannot open for appending", e))?;
    let torn = ends_without_newline(&mut f).map_err(|e| FsError::new(path, "cannot read", e))?;
    let mut bytes = Vec::with_capacity(line.len() + 2);
    if torn {
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    // One write of the whole line: an append-mode write lands at the end
    // even when another process appended in between.
    f.write_all(&bytes)
        .map_err(|e| FsError::new(path, "cannot append", e))?;
    f.sync_data()
        .map_err(|e| FsError::new(path, "cannot sync", e))?;
    Ok(if torn {
        Appended::AfterTornLine
    } else {
        Appended::Clean
    })
}

fn ends_without_newline(f: &mut File) -> io::Result<bool> {
    let len = f.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// A line of a JSON-lines file that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub path: PathBuf,
    /// 1-based.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: skipped: {}",
            self.path.display(),
            self.line,
            self.reason
        )
    }
}

/// The readable records of a JSON-lines file and the lines that were not.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonLines<T> {
    /// (1-based line number, record), in file order.
    pub records: Vec<(usize, T)>,
    pub skipped: Vec<BadLine>,
}

impl<T> JsonLines<T> {
    pub fn into_records(self) -> Vec<T> {
        self.records.into_iter().map(|(_, r)| r).collect()
    }
}

/// Reads a JSON-lines file line by line. Blank lines are ignored; a line that
/// is not UTF-8, not JSON or not a `T` is skipped and named (file, line,
/// reason), and every other line is kept. Only an unreadable file is an error.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<JsonLines<T>, FsError> {
    let bytes = std::fs::read(path).map_err(|e| FsError::new(path, "cannot read", e))?;
    Ok(parse_jsonl(path, &bytes))
}

/// [`read_jsonl`] on bytes already read (`path` names them in messages).
pub fn parse_jsonl<T: serde::de::DeserializeOwned>(path: &Path, bytes: &[u8]) -> JsonLines<T> {
    let mut out = JsonLines {
        records: Vec::new(),
        skipped: Vec::new(),
    };
    let torn_tail = !bytes.is_empty() && !bytes.ends_with(b"\n");
    let n = bytes.split(|&b| b == b'\n').count();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = i + 1;
        let last = torn_tail && i + 1 == n;
        let bad = |reason: String| BadLine {
            path: path.to_path_buf(),
            line: line_no,
            reason: if last {
                format!("torn last line (an interrupted write?): {reason}")
            } else {
                reason
            },
        };
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t,
            Err(e) => {
                out.skipped.push(bad(format!(
                    "invalid UTF-8 at byte {} of the line",
                    e.valid_up_to() + 1
                )));
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<T>(text) {
            Ok(r) => out.records.push((line_no, r)),
            Err(e) => out.skipped.push(bad(format!("not a valid record: {e}"))),
        }
    }
    out
}

/// The generation number under which older copies of `names` (files in
/// `dir`) are kept: one more than the highest `NAME.N` of any of them, so a
/// generation is never overwritten and a higher number is always newer.
pub fn next_generation(dir: &Path, names: &[&str]) -> io::Result<u64> {
    let mut max = 0u64;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(1),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        let file = e.file_name();
        let Some(file) = file.to_str() else { continue };
        for name in names {
            let n = file
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('.'))
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(n) = n {
                max = max.max(n);
            }
        }
    }
    Ok(max + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Rec {
        n: u32,
    }

    #[test]
    fn atomic_write_replaces_the_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    /// A writer error halfway (what a full disk does) leaves the old file
    /// intact and no temporary file; the error names the file.
    #[test]
    fn failed_write_keeps_the_old_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("results.jsonl");
        std::fs::write(&p, "old\n").unwrap();
        let e = write_atomic_with(&p, |w| {
            w.write_all(b"half of the new")?;
            Err(io::Error::from_raw_os_error(28)) // ENOSPC
        })
        .unwrap_err();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old\n");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        let msg = e.to_string();
        assert!(
            msg.contains("results.jsonl") && msg.contains("No space left"),
            "{msg}"
        );
        let kind = e.error.kind();
        assert_eq!(io::Error::from(e).kind(), kind);
    }

    /// /dev/full as the directory's stand-in: a target whose parent is a
    /// file cannot get a temporary file; the error names the target.
    #[test]
    fn unwritable_directory_is_an_error_naming_the_file() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("plain");
        std::fs::write(&file, "x").unwrap();
        let e = write_atomic(&file.join("out.json"), b"y").unwrap_err();
        assert!(e.to_string().contains("plain/out.json"), "{e}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    }

    #[test]
    fn a_device_is_written_directly() {
        write_atomic(Path::new("/dev/null"), b"x").unwrap();
        let e = write_atomic(Path::new("/dev/full"), b"x").unwrap_err();
        assert!(e.to_string().starts_with("/dev/full: cannot write"), "{e}");
    }

    #[test]
    fn append_terminates_a_torn_last_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("h.jsonl");
        assert_eq!(append_jsonl(&p, &Rec { n: 1 }).unwrap(), Appended::Clean);
        // An interrupted write: half a record, no newline.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"n\":").unwrap();
        drop(f);
        assert_eq!(
            append_jsonl(&p, &Rec { n: 2 }).unwrap(),
            Appended::AfterTornLine
        );
        assert_eq!(append_jsonl(&p, &Rec { n: 3 }).unwrap(), Appended::Clean);
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text, "{\"n\":1}\n{\"n\":\n{\"n\":2}\n{\"n\":3}\n");
        let r = read_jsonl::<Rec>(&p).unwrap();
        assert_eq!(
            r.records,
            vec![(1, Rec { n: 1 }), (3, Rec { n: 2 }), (4, Rec { n: 3 })]
        );
        assert_eq!(r.skipped.len(), 1);
        assert_eq!(r.skipped[0].line, 2);
    }

    #[test]
    fn reader_skips_and_names_bad_lines_and_keeps_the_rest() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.jsonl");
        let bytes =
            b"{\"n\":1}\n\n{\"n\":2, \"x\": \"\xff\"}\nnot json\n{\"m\":4}\n{\"n\":5}\n{\"n\":6"
                .to_vec();
        std::fs::write(&p, &bytes).unwrap();
        let r = read_jsonl::<Rec>(&p).unwrap();
        assert_eq!(r.records, vec![(1, Rec { n: 1 }), (6, Rec { n: 5 })]);
        let lines: Vec<usize> = r.skipped.iter().map(|b| b.line).collect();
        assert_eq!(lines, [3, 4, 5, 7]);
        let msgs: Vec<String> = r.skipped.iter().map(|b| b.to_string()).collect();
        assert!(
            msgs[0].ends_with("r.jsonl:3: skipped: invalid UTF-8 at byte 15 of the line"),
            "{msgs:?}"
        );
        assert!(
            msgs[1].contains(":4: skipped: not a valid record"),
            "{msgs:?}"
        );
        assert!(msgs[3].contains(":7: skipped: torn last line"), "{msgs:?}");
        assert!(read_jsonl::<Rec>(&d.path().join("nope"))
            .unwrap_err()
            .to_string()
            .contains("nope: cannot read"));
    }

    #[test]
    fn generations_only_grow() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(next_generation(d.path(), &["a", "b"]).unwrap(), 1);
        std::fs::write(d.path().join("a.1"), "").unwrap();
        std::fs::write(d.path().join("b.7"), "").unwrap();
        std::fs::write(d.path().join("a.previous"), "").unwrap();
        std::fs::write(d.path().join("a.12x"), "").unwrap();
        assert_eq!(next_generation(d.path(), &["a", "b"]).unwrap(), 8);
        assert_eq!(next_generation(d.path(), &["a"]).unwrap(), 2);
        assert_eq!(
            next_generation(&d.path().join("missing"), &["a"]).unwrap(),
            1
        );
    }
}
