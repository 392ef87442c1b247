//! The parsed form of a patch series. Paths are repository-relative with the
//! `a/` / `b/` prefixes already stripped; line contents are raw bytes because
//! kernel sources and mails are not guaranteed to be UTF-8.

use std::path::PathBuf;

/// Where something was read from: the file and its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceLocation {
    pub file: PathBuf,
    pub line: usize,
}

impl std::fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// What the bracketed subject prefix (`[RFC PATCH v2 3/7]`) said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectTags {
    /// The bracketed prefixes as written, e.g. `["RFC PATCH v2 3/7"]`.
    pub raw: Vec<String>,
    /// `3/7` → `Some((3, 7))`.
    pub number: Option<(u32, u32)>,
    /// `v2` → `Some(2)`.
    pub version: Option<u32>,
    pub rfc: bool,
}

/// The `[PATCH 0/N]` mail of a series: kept apart from the patches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverLetter {
    pub subject: String,
    pub tags: SubjectTags,
    pub author: String,
    pub date: String,
    pub body: String,
    pub source: SourceLocation,
}

/// One patch of a series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    /// 1-based position in the series (after ordering by `n/m`, when present).
    pub index: usize,
    /// The subject without `[PATCH ...]` prefixes and without `Re:`.
    pub subject: String,
    pub tags: SubjectTags,
    /// `From:` header (or in-body `From:`), MIME-decoded: `Name <mail>`.
    pub author: String,
    /// `Date:` header as written.
    pub date: String,
    /// The commit id from a `From <sha> Mon Sep 17 00:00:00 2001` separator.
    pub commit: Option<String>,
    /// Commit message: everything before the `---` line, trailers (`Link:`,
    /// `Signed-off-by:`) included.
    pub message: String,
    pub files: Vec<FilePatch>,
    pub source: SourceLocation,
}

impl Patch {
    /// Every path the patch reads or writes (old and new sides), sorted:
    /// what an incremental analysis has to look at again.
    pub fn touched_paths(&self) -> Vec<&str> {
        let mut paths: Vec<&str> = self
            .files
            .iter()
            .flat_map(|file| [file.old_path.as_deref(), file.new_path.as_deref()])
            .flatten()
            .collect();
        paths.sort_unstable();
        paths.dedup();
        paths
    }
}

/// What a [`FilePatch`] does to its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    Modify,
    Create,
    Delete,
    Rename,
    Copy,
}

/// The change to one file inside a patch (one `diff --git` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePatch {
    pub kind: ChangeKind,
    /// Path before the change; `None` for a created file.
    pub old_path: Option<String>,
    /// Path after the change; `None` for a deleted file.
    pub new_path: Option<String>,
    /// Git file modes (`0o100644`, `0o100755`, `0o120000`) when the patch
    /// states them (`old mode`, `new file mode`, `index ... 100644`, ...).
    pub old_mode: Option<u32>,
    pub new_mode: Option<u32>,
    /// `similarity index 90%` of a rename or copy.
    pub similarity: Option<u8>,
    /// Abbreviated blob ids of the `index` line.
    pub old_blob: Option<String>,
    pub new_blob: Option<String>,
    pub content: FileContent,
    /// Where the section starts (`diff --git` or `---` line).
    pub source: SourceLocation,
}

impl FilePatch {
    /// The path this change is best known by: the new path, or the old one for
    /// a deletion.
    pub fn display_path(&self) -> &str {
        self.new_path
            .as_deref()
            .or(self.old_path.as_deref())
            .unwrap_or("<unknown>")
    }
}

/// The content change of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileContent {
    /// Text hunks (possibly none: pure rename, mode change, empty new file).
    Text(Vec<Hunk>),
    /// `GIT binary patch` or `Binary files ... differ`: parsed but not
    /// applicable.
    Binary,
}

impl FileContent {
    pub fn hunks(&self) -> &[Hunk] {
        match self {
            FileContent::Text(hunks) => hunks,
            FileContent::Binary => &[],
        }
    }
}

/// One `@@ -a,b +c,d @@` hunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    pub old_start: usize,
    pub old_count: usize,
    pub new_start: usize,
    pub new_count: usize,
    /// The text after the closing `@@` (usually the enclosing function).
    pub section: String,
    pub lines: Vec<HunkLine>,
    pub source: SourceLocation,
}

impl Hunk {
    /// The `@@ ... @@ section` header as it is rendered in a diff.
    pub fn header(&self) -> String {
        let range = |start: usize, count: usize| {
            if count == 1 {
                format!("{start}")
            } else {
                format!("{start},{count}")
            }
        };
        let mut header = format!(
            "@@ -{} +{} @@",
            range(self.old_start, self.old_count),
            range(self.new_start, self.new_count)
        );
        if !self.section.is_empty() {
            header.push(' ');
            header.push_str(&self.section);
        }
        header
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineKind {
    Context,
    Removed,
    Added,
}

/// One line of a hunk, without its leading ` `/`-`/`+` and without `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HunkLine {
    pub kind: LineKind,
    pub text: Vec<u8>,
    /// Followed by `\ No newline at end of file`.
    pub no_newline: bool,
}

/// A message that was in the input but is neither a patch nor the cover
/// letter (a reply in a thread mbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredMessage {
    pub subject: String,
    pub reason: String,
    pub source: SourceLocation,
}

/// A whole series, in application order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    /// The file or directory it was loaded from.
    pub source: PathBuf,
    pub cover: Option<CoverLetter>,
    pub patches: Vec<Patch>,
    pub ignored: Vec<IgnoredMessage>,
    /// Things that look wrong but do not stop loading (a patch of a numbered
    /// series is missing).
    pub warnings: Vec<String>,
}
