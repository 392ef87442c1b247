//! Where the files of a result directory are: the series kept there, and
//! their URIs (for KCIDB's `log_url` and `patchset_files`).

use std::path::Path;

/// Environment variable naming where the result directory is published
/// (e.g. `https://ci.example.org/nightly/2026-12-02/`); log and series URLs are
/// made under it. Unset: `file://` URIs of the result directory itself.
pub const URL_BASE_ENV: &str = "MMSTALL_URL_BASE";

/// The base URI (ending in `/`) of a result directory's files.
pub fn url_base(dir: &Path) -> String {
    if let Some(b) = std::env::var(URL_BASE_ENV).ok().filter(|b| !b.is_empty()) {
        return if b.ends_with('/') { b } else { b + "/" };
    }
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut uri = file_uri(&abs);
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// Percent-encodes one path for a URI (RFC 3986: unreserved characters and
/// `/` stay as they are).
fn uri_path(p: &str) -> String {
    let mut o = String::with_capacity(p.len());
    for b in p.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                o.push(b as char)
            }
            _ => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}

/// `file://` URI of an absolute path.
pub fn file_uri(abs: &Path) -> String {
    format!("file://{}", uri_path(&abs.to_string_lossy()))
}

/// A file of the result directory (`logs/JOB/STEP.log`) under `base`.
pub fn url_of(base: &str, rel: &str) -> String {
    format!("{base}{}", uri_path(rel.trim_start_matches('/')))
}

/// Where a series is kept in the result directory (git ranges are written
/// there by `git format-patch`; mbox and directory series are copied there by
/// [`keep_series`]), so `patchset_files` can point at it.
pub fn series_file(series: &str) -> String {
    format!("series/{}.mbox", crate::plan::safe_name(series))
}

/// Copies an mbox series (or the `*.patch` files of a directory series, in
/// name order, concatenated: each is a `git format-patch` mail) into the
/// result directory's [`series_file`].
pub fn keep_series(out: &Path, series: &str, source: &Path) -> std::io::Result<()> {
    let dst = out.join(series_file(series));
    std::fs::create_dir_all(dst.parent().unwrap_or(out))?;
    let text = if source.is_dir() {
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(source)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "patch"))
            .collect();
        files.sort();
        let mut all = Vec::new();
        for f in files {
            all.extend(std::fs::read(&f)?);
            if !all.ends_with(b"\n") {
                all.push(b'\n');
            }
        }
        all
    } else {
        std::fs::read(source)?
    };
    let tmp = dst.with_extension("mbox.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &dst)
}
