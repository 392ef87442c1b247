//! Source discovery: which files under PATH are C, which are readable text,
//! and which are worth parsing (a cheap token prefilter: tree-sitter parses
//! ~5 MB/s per core, the prefilter reads at memory speed).

use std::path::{Path, PathBuf};

use memchr::memmem::Finder;

/// A file that could not be used, and why; the run goes on without it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    pub file: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to the analyzed root, with `/` separators.
    pub rel: String,
    pub text: String,
}

/// Lists `.c` and `.h` files under `root` (or `root` itself when it is a
/// file), sorted, skipping hidden directories.
pub fn discover(root: &Path) -> Vec<PathBuf> {
    if root.is_file() {
        return vec![root.to_path_buf()];
    }
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| matches!(p.extension().and_then(|x| x.to_str()), Some("c" | "h")))
        .collect();
    files.sort();
    files
}

pub fn relative(root: &Path, path: &Path) -> String {
    let base = if root.is_file() { root.parent().unwrap_or(Path::new("")) } else { root };
    let rel = path.strip_prefix(base).unwrap_or(path);
    rel.to_string_lossy().replace('\\', "/")
}

/// Reads a file as UTF-8 text; binary or non-UTF-8 content is a `Skipped`.
pub fn read_text(root: &Path, path: &Path) -> Result<SourceFile, Skipped> {
    let rel = relative(root, path);
    let bytes = std::fs::read(path).map_err(|e| Skipped { file: rel.clone(), reason: format!("cannot read: {e}") })?;
    if memchr::memchr(0, &bytes).is_some() {
        return Err(Skipped { file: rel, reason: "binary file (contains NUL bytes)".into() });
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile { rel, text }),
        Err(e) => {
            let off = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..off].iter().filter(|b| **b == b'\n').count() + 1;
            Err(Skipped { file: rel, reason: format!("not valid UTF-8 (line {line})") })
        }
    }
}

/// A multi-pattern substring prefilter.
pub struct Prefilter {
    finders: Vec<Finder<'static>>,
}

impl Prefilter {
    pub fn new(tokens: &[String]) -> Prefilter {
        Prefilter { finders: tokens.iter().map(|t| Finder::new(t.as_bytes()).into_owned()).collect() }
    }

    pub fn matches(&self, text: &[u8]) -> bool {
        self.finders.iter().any(|f| f.find(text).is_some())
    }
}
