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
    discover_reporting(root).0
}

/// [`discover`], with what could not be listed: directories that cannot be
/// read, and `.c`/`.h` entries that are not regular files (FIFOs, devices,
/// sockets: never opened, a read could block or never end). Symbolic links
/// are not followed (as before).
pub fn discover_reporting(root: &Path) -> (Vec<PathBuf>, Vec<Skipped>) {
    if root.is_file() {
        return (vec![root.to_path_buf()], Vec::new());
    }
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let is_source = |p: &Path| matches!(p.extension().and_then(|x| x.to_str()), Some("c" | "h"));
    let walk = walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walk {
        match entry {
            Ok(e) if e.file_type().is_file() => {
                if is_source(e.path()) {
                    files.push(e.into_path());
                }
            }
            Ok(e) => {
                if let Some(kind) = special_file_kind(&e.file_type()) {
                    if is_source(e.path()) {
                        skipped.push(Skipped {
                            file: relative(root, e.path()),
                            reason: format!("not a regular file ({kind}): not read"),
                        });
                    }
                }
            }
            Err(err) => {
                let file = err
                    .path()
                    .map(|p| relative(root, p))
                    .unwrap_or_else(|| display_path(root));
                let what = match err.io_error() {
                    Some(io) => io.to_string(),
                    None => err.to_string(),
                };
                skipped.push(Skipped {
                    file,
                    reason: format!("cannot read directory: {what}"),
                });
            }
        }
    }
    files.sort();
    (files, skipped)
}

/// What a file that is neither regular, a directory nor a link is.
pub fn special_file_kind(t: &std::fs::FileType) -> Option<&'static str> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a FIFO");
        }
        if t.is_char_device() {
            return Some("a character device");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    if t.is_file() || t.is_dir() || t.is_symlink() {
        None
    } else {
        Some("not a regular file")
    }
}

/// A path as text: UTF-8 as is, any other byte escaped as `\xNN` (names
/// stay distinct and readable, and JSON stays valid).
pub fn display_path(path: &Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let mut out = String::new();
        for chunk in path.as_os_str().as_bytes().utf8_chunks() {
            out.push_str(chunk.valid());
            for b in chunk.invalid() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
        out
    }
    #[cfg(not(unix))]
    {
        path.to_string_lossy().replace('\\', "/")
    }
}

pub fn relative(root: &Path, path: &Path) -> String {
    let base = if root.is_file() {
        root.parent().unwrap_or(Path::new(""))
    } else {
        root
    };
    let rel = path.strip_prefix(base).unwrap_or(path);
    display_path(rel)
}

/// The root of the tree `path` belongs to, which findings are named
/// relative to (as gcc, sparse and checkpatch name them, and as code scanning
/// places them): the git work tree holding `path`, or else the nearest
/// ancestor that is a kernel's top-level directory ([`is_kernel_top`]).
/// `None` when neither exists. `path` should be absolute (canonical).
pub fn tree_root(path: &Path) -> Option<PathBuf> {
    let start = if path.is_dir() { path } else { path.parent()? };
    // `.git` is a directory, or a file in linked work trees and submodules.
    if let Some(git) = start.ancestors().find(|d| d.join(".git").exists()) {
        return Some(git.to_path_buf());
    }
    start
        .ancestors()
        .find(|d| is_kernel_top(d))
        .map(Path::to_path_buf)
}

/// A kernel's top-level directory: a `Kbuild` next to a `Makefile` that sets
/// `VERSION` and `PATCHLEVEL`. A Makefile and a Kbuild alone are not enough:
/// `arch/x86/` and the other architectures have both.
pub fn is_kernel_top(dir: &Path) -> bool {
    use std::io::Read;
    if !dir.join("Kbuild").is_file() {
        return false;
    }
    let Ok(file) = std::fs::File::open(dir.join("Makefile")) else {
        return false;
    };
    // The version lines open the Makefile (after the SPDX line).
    let mut bytes = Vec::new();
    if file.take(4096).read_to_end(&mut bytes).is_err() {
        return false;
    }
    let head = String::from_utf8_lossy(&bytes);
    let sets = |var: &str| {
        head.lines().any(|l| {
            l.strip_prefix(var)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
    };
    sets("VERSION") && sets("PATCHLEVEL")
}

/// A set of source files to analyze: a directory on disk, or blobs of a git
/// tree held in memory (revisions are analyzed without a checkout).
pub trait SourceSet: Sync {
    /// Relative paths (`/`-separated, sorted) and sizes in bytes.
    fn list(&self) -> Vec<(String, u64)>;
    fn read(&self, rel: &str) -> Result<SourceFile, Skipped>;
    /// What listing could not include (unreadable directories, special
    /// files): reported with the run's skipped files.
    fn unlisted(&self) -> Vec<Skipped> {
        Vec::new()
    }
    /// An id of the file's content (a git blob id): equal ids, equal bytes.
    /// With one, what the analyzer derives from the content alone is kept in
    /// a scan cache (see the `run` module) and the file is not read again.
    fn content_id(&self, _rel: &str) -> Option<ContentId> {
        None
    }
}

/// Identifies a file's content (20 bytes: a git blob id).
pub type ContentId = [u8; 20];

/// A directory (or a single file) on disk.
pub struct FsTree {
    root: PathBuf,
    base: PathBuf,
    files: Vec<(String, u64)>,
    /// The path on disk of each listed name that is not `base/name` (names
    /// escape non-UTF-8 bytes); most trees have none.
    paths: std::collections::HashMap<String, PathBuf>,
    unlisted: Vec<Skipped>,
}

impl FsTree {
    pub fn new(root: &Path) -> FsTree {
        FsTree::within(root, None)
    }

    /// The files under `root` (a directory or a file), named relative to
    /// `tree_root` when given (see [`tree_root`]): `lint mm` then names
    /// `mm/mmap.c` as `lint .` does. Without it, relative to `root`.
    pub fn within(root: &Path, tree_root: Option<&Path>) -> FsTree {
        let base = match tree_root {
            Some(t) => t.to_path_buf(),
            None if root.is_file() => root.parent().unwrap_or(Path::new("")).to_path_buf(),
            None => root.to_path_buf(),
        };
        let (found, unlisted) = discover_reporting(root);
        let mut files = Vec::with_capacity(found.len());
        let mut paths = std::collections::HashMap::new();
        for p in found {
            let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            let rel = match tree_root.and_then(|t| p.strip_prefix(t).ok()) {
                Some(r) => display_path(r),
                None => relative(root, &p),
            };
            if base.join(&rel) != p {
                paths.insert(rel.clone(), p);
            }
            files.push((rel, size));
        }
        FsTree {
            root: root.to_path_buf(),
            base,
            files,
            paths,
            unlisted,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The files under each of `roots`, named relative to `tree_root`; a
    /// file under two of them is listed once.
    pub fn union(roots: &[PathBuf], tree_root: &Path) -> FsTree {
        let mut out = FsTree {
            root: tree_root.to_path_buf(),
            base: tree_root.to_path_buf(),
            files: Vec::new(),
            paths: std::collections::HashMap::new(),
            unlisted: Vec::new(),
        };
        let mut seen = std::collections::HashSet::new();
        for root in roots {
            let one = FsTree::within(root, Some(tree_root));
            for (name, size) in one.files {
                if seen.insert(name.clone()) {
                    if let Some(p) = one.paths.get(&name) {
                        out.paths.insert(name.clone(), p.clone());
                    }
                    out.files.push((name, size));
                }
            }
            out.unlisted.extend(one.unlisted);
        }
        out
    }
}

impl SourceSet for FsTree {
    fn list(&self) -> Vec<(String, u64)> {
        self.files.clone()
    }

    fn unlisted(&self) -> Vec<Skipped> {
        self.unlisted.clone()
    }

    fn read(&self, rel: &str) -> Result<SourceFile, Skipped> {
        let path = match self.paths.get(rel) {
            Some(p) => p.clone(),
            None => self.base.join(rel),
        };
        let bytes = std::fs::read(path).map_err(|e| Skipped {
            file: rel.to_string(),
            reason: format!("cannot read: {e}"),
        })?;
        decode(rel.to_string(), bytes)
    }
}

/// Files held in memory (for example the blobs of a git tree).
#[derive(Default)]
pub struct MemoryTree {
    pub files: std::collections::BTreeMap<String, Vec<u8>>,
}

impl SourceSet for MemoryTree {
    fn list(&self) -> Vec<(String, u64)> {
        self.files
            .iter()
            .filter(|(k, _)| k.ends_with(".c") || k.ends_with(".h"))
            .map(|(k, v)| (k.clone(), v.len() as u64))
            .collect()
    }

    fn read(&self, rel: &str) -> Result<SourceFile, Skipped> {
        match self.files.get(rel) {
            Some(bytes) => decode(rel.to_string(), bytes.clone()),
            None => Err(Skipped {
                file: rel.to_string(),
                reason: "no such file".into(),
            }),
        }
    }
}

/// Reads a file as UTF-8 text; binary or non-UTF-8 content is a `Skipped`.
pub fn read_text(root: &Path, path: &Path) -> Result<SourceFile, Skipped> {
    let rel = relative(root, path);
    let bytes = std::fs::read(path).map_err(|e| Skipped {
        file: rel.clone(),
        reason: format!("cannot read: {e}"),
    })?;
    decode(rel, bytes)
}

fn decode(rel: String, bytes: Vec<u8>) -> Result<SourceFile, Skipped> {
    if memchr::memchr(0, &bytes).is_some() {
        return Err(Skipped {
            file: rel,
            reason: "binary file (contains NUL bytes)".into(),
        });
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile { rel, text }),
        Err(e) => {
            let off = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..off].iter().filter(|b| **b == b'\n').count() + 1;
            Err(Skipped {
                file: rel,
                reason: format!("not valid UTF-8 (line {line})"),
            })
        }
    }
}

/// A multi-pattern substring prefilter.
pub struct Prefilter {
    finders: Vec<Finder<'static>>,
}

impl Prefilter {
    pub fn new(tokens: &[String]) -> Prefilter {
        Prefilter {
            finders: tokens
                .iter()
                .map(|t| Finder::new(t.as_bytes()).into_owned())
                .collect(),
        }
    }

    pub fn matches(&self, text: &[u8]) -> bool {
        self.finders.iter().any(|f| f.find(text).is_some())
    }
}

/// A top-level region of a file: everything up to and including a line that
/// starts with `}` (kernel style closes function bodies in column 0). The
/// analysis selects chunks, not files: most of a big file is irrelevant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub start: usize,
    pub end: usize,
}

pub fn split_chunks(text: &str) -> Vec<Chunk> {
    let bytes = text.as_bytes();
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut line_start = 0;
    for nl in memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len())) {
        if bytes.get(line_start) == Some(&b'}') {
            let end = (nl + 1).min(bytes.len());
            chunks.push(Chunk { start, end });
            start = end;
        }
        line_start = nl + 1;
    }
    if start < bytes.len() {
        chunks.push(Chunk {
            start,
            end: bytes.len(),
        });
    }
    chunks
}

/// Keywords and operators that look like calls (`if (`, `sizeof (`): never
/// a called or passed name.
pub const NOT_CALLS: &[&str] = &[
    "if",
    "while",
    "for",
    "switch",
    "return",
    "sizeof",
    "typeof",
    "__typeof__",
    "defined",
    "case",
    "do",
    "else",
    "alignof",
    "_Alignof",
    "__attribute__",
    "asm",
    "__asm__",
    "volatile",
];

/// Names called in a piece of C, read lexically (`name(` outside comments
/// and strings), deduplicated. Cheap: a byte loop, no parse.
pub fn called_names(text: &str) -> Vec<String> {
    // Only a `(` can follow a called name, and only `/`, `"` and `'` can
    // open a comment or a literal to step over: jump between those bytes,
    // then read back from the `(` to the name before it (blanks between).
    let b = text.as_bytes();
    let mut out: Vec<String> = Vec::new();
    let mut seen = crate::catalogue::HashSet::default();
    let mut i = 0;
    while let Some(k) = b[i..].iter().position(|&c| CALL_SCAN_STOPS[c as usize]) {
        i += k;
        match (skip_comment_or_literal(b, i), b[i]) {
            (Some(end), _) => i = end,
            (None, b'(') => {
                let mut end = i;
                while end > 0 && matches!(b[end - 1], b' ' | b'\t') {
                    end -= 1;
                }
                let mut start = end;
                while start > 0 && is_ident_byte(b[start - 1]) {
                    start -= 1;
                }
                // A name starts with a letter or `_` (`1abc(` calls `abc`).
                while start < end && b[start].is_ascii_digit() {
                    start += 1;
                }
                if start < end {
                    let name = &text[start..end];
                    if !NOT_CALLS.contains(&name) && seen.insert(name) {
                        out.push(name.to_string());
                    }
                }
                i += 1;
            }
            _ => i += 1,
        }
        if i >= b.len() {
            break;
        }
    }
    out
}

/// Where the comment or the literal opening at `i` ends (a string or a
/// character constant ends at its line's end if not closed), if one does.
pub(crate) fn skip_comment_or_literal(b: &[u8], i: usize) -> Option<usize> {
    Some(match (b[i], b.get(i + 1)) {
        (b'/', Some(b'/')) => memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |k| i + k),
        (b'/', Some(b'*')) => memmem_end(b, i),
        (q @ (b'"' | b'\''), _) => {
            let mut j = i + 1;
            while j < b.len() && b[j] != q && b[j] != b'\n' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            j + 1
        }
        _ => return None,
    })
}

fn memmem_end(b: &[u8], i: usize) -> usize {
    COMMENT_END.find(&b[i + 2..]).map_or(b.len(), |k| i + 4 + k)
}

/// Finders made once (`memmem::find` builds a searcher per call, and
/// these are asked per comment and per chunk of a whole tree).
pub(crate) static COMMENT_END: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"*/"));
static ARROW: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"->"));

/// The bytes [`called_names`] stops at.
const CALL_SCAN_STOPS: [bool; 256] = {
    let mut t = [false; 256];
    t[b'(' as usize] = true;
    t[b'/' as usize] = true;
    t[b'"' as usize] = true;
    t[b'\'' as usize] = true;
    t
};

/// Names passed whole as a call argument (`walk(mm, start, end, visit_one)`):
/// the functions a chunk hands to a walker that calls them through a
/// parameter. Read lexically, so variables come too; the run keeps only
/// names that have a definition.
pub fn passed_names(text: &str) -> Vec<String> {
    // Only an identifier right after a `(` or `,` (blanks between) can be
    // one: jump from one such byte to the next instead of reading every
    // identifier of the chunk (the scan runs over every chunk of a tree).
    let b = text.as_bytes();
    let mut out: Vec<String> = Vec::new();
    let mut seen = crate::catalogue::HashSet::default();
    let blank = |c: u8| matches!(c, b' ' | b'\t' | b'\n');
    let mut at = 0;
    while let Some(k) = memchr::memchr2(b'(', b',', &b[at..]) {
        let mut i = at + k + 1;
        at = i;
        while i < b.len() && blank(b[i]) {
            i += 1;
        }
        if !b
            .get(i)
            .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_')
        {
            continue;
        }
        let start = i;
        while i < b.len() && is_ident_byte(b[i]) {
            i += 1;
        }
        let mut j = i;
        while j < b.len() && blank(b[j]) {
            j += 1;
        }
        if matches!(b.get(j), Some(b',' | b')')) {
            let name = &text[start..i];
            if !NOT_CALLS.contains(&name) && seen.insert(name) {
                out.push(name.to_string());
            }
        }
    }
    out
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The function-pointer parameters a chunk declares in its head
/// (`int (*visit)(...)`).
pub fn fn_param_names(text: &str) -> Vec<String> {
    let head = match text.find('{') {
        Some(k) => &text[..k],
        None => text,
    };
    let mut out = Vec::new();
    for (k, _) in head.match_indices('*') {
        let before = head[..k].trim_end();
        if !before.ends_with('(') {
            continue;
        }
        let rest = head[k + 1..].trim_start();
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && rest[name.len()..].trim_start().starts_with(')') {
            out.push(name);
        }
    }
    out
}

/// Does the text assign through a pointer (`p->field = x`, not `==`)?
pub fn stores_through_pointer(text: &str) -> bool {
    let b = text.as_bytes();
    ARROW.find_iter(b).any(|i| {
        let mut j = i + 2;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
            j += 1;
        }
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        b.get(j) == Some(&b'=') && b.get(j + 1) != Some(&b'=')
    })
}

/// `(field, function)` for designated initializers `.field = function` (or
/// `= &function`) whose field is one of `fields`, read lexically.
pub fn designated_functions(text: &str, fields: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if fields.is_empty() {
        return out;
    }
    let b = text.as_bytes();
    for i in memchr::memchr_iter(b'.', b) {
        let mut j = i + 1;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
            j += 1;
        }
        let field = &text[i + 1..j];
        if field.is_empty() || !fields.iter().any(|f| f == field) {
            continue;
        }
        let rest = text[j..].trim_start_matches([' ', '\t']);
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        if rest.starts_with('=') {
            continue;
        }
        let rest = rest.trim_start_matches([' ', '\t', '&']);
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()) && name != "NULL" {
            out.push((field.to_string(), name));
        }
    }
    out
}

#[cfg(test)]
mod called_names_tests {
    use proptest::prelude::*;

    /// The byte-by-byte reading `called_names` replaced: every identifier
    /// read whole, a call when `(` follows it (blanks between).
    fn reference(text: &str) -> Vec<String> {
        let b = text.as_bytes();
        let mut out: Vec<String> = Vec::new();
        let mut seen = crate::catalogue::HashSet::default();
        let mut i = 0;
        while i < b.len() {
            match (super::skip_comment_or_literal(b, i), b[i]) {
                (Some(end), _) => i = end,
                (None, c) if c.is_ascii_alphabetic() || c == b'_' => {
                    let start = i;
                    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                        i += 1;
                    }
                    let mut j = i;
                    while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                        j += 1;
                    }
                    if b.get(j) == Some(&b'(') {
                        let name = &text[start..i];
                        if !super::NOT_CALLS.contains(&name) && seen.insert(name) {
                            out.push(name.to_string());
                        }
                    }
                }
                _ => i += 1,
            }
        }
        out
    }

    proptest! {
        #[test]
        fn called_names_matches_the_byte_by_byte_reading(
            text in "([a-z_0-9]{0,6}|[ \t\n(),;{}*/\"'\\\\]|if|/\\*|\\*/|//){0,60}",
        ) {
            prop_assert_eq!(super::called_names(&text), reference(&text));
        }
    }

    #[test]
    fn called_names_skips_comments_and_literals() {
        let text = "\tfoo(a); /* bar( */ baz (b, \"qux(\", '(');\n\t// quux(\n\tif (1abc(x))\n";
        assert_eq!(super::called_names(text), ["foo", "baz", "abc"]);
        assert_eq!(reference(text), ["foo", "baz", "abc"]);
    }
}
