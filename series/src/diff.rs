//! Parser for unified diffs with git's extended headers (`diff --git`,
//! modes, renames, copies, binary markers) and for plain `---`/`+++` diffs.

use std::path::Path;

use crate::error::SeriesError;
use crate::lines::{unquote_c_style, Line};
use crate::model::{ChangeKind, FileContent, FilePatch, Hunk, HunkLine, LineKind, SourceLocation};

/// Does a diff start at `index`? (`diff --git`, or a `---`/`+++` pair
/// followed by a hunk header.)
pub(crate) fn diff_starts_at(lines: &[Line], index: usize) -> bool {
    let Some(line) = lines.get(index) else {
        return false;
    };
    if line.starts_with("diff --git ") {
        return true;
    }
    line.starts_with("--- ")
        && lines.get(index + 1).is_some_and(|l| l.starts_with("+++ "))
        && lines.get(index + 2).is_some_and(|l| l.starts_with("@@ "))
}

/// Parses every file section in `lines`. Text between sections that is not a
/// diff (diffstat, signature `-- `, notes) is skipped, like `git apply` does.
pub(crate) fn parse_diff(lines: &[Line], file: &Path) -> Result<Vec<FilePatch>, SeriesError> {
    let mut parser = DiffParser {
        lines,
        file,
        index: 0,
    };
    let mut files = Vec::new();
    while parser.index < lines.len() {
        let line = &lines[parser.index];
        if line.starts_with("diff --git ") {
            files.push(parser.git_section()?);
        } else if diff_starts_at(lines, parser.index) {
            files.push(parser.plain_section()?);
        } else if line.starts_with("@@ ") {
            return Err(parser.error(
                line.number,
                "hunk without a file header (`diff --git` or `---`/`+++`) before it",
            ));
        } else if line.text == b"-- " {
            // The mail signature (`-- \n2.43.0`) ends the diff.
            break;
        } else {
            parser.index += 1;
        }
    }
    Ok(files)
}

struct DiffParser<'a> {
    lines: &'a [Line],
    file: &'a Path,
    index: usize,
}

/// What the extended header lines of a `diff --git` section said.
#[derive(Default)]
struct GitHeader {
    old_mode: Option<u32>,
    new_mode: Option<u32>,
    new_file: bool,
    deleted_file: bool,
    rename_from: Option<String>,
    rename_to: Option<String>,
    copy_from: Option<String>,
    copy_to: Option<String>,
    similarity: Option<u8>,
    index_mode: Option<u32>,
    old_blob: Option<String>,
    new_blob: Option<String>,
}

impl<'a> DiffParser<'a> {
    fn error(&self, line: usize, message: impl Into<String>) -> SeriesError {
        SeriesError::malformed(self.file, line, message)
    }

    fn location(&self, line: usize) -> SourceLocation {
        SourceLocation {
            file: self.file.to_path_buf(),
            line,
        }
    }

    fn current(&self) -> Option<&'a Line> {
        self.lines.get(self.index)
    }

    fn git_section(&mut self) -> Result<FilePatch, SeriesError> {
        let start = &self.lines[self.index];
        let rest = String::from_utf8_lossy(&start.text["diff --git ".len()..]).into_owned();
        let (header_old, header_new) = split_git_header_paths(&rest).ok_or_else(|| {
            self.error(
                start.number,
                format!("cannot read the paths of `diff --git {rest}`"),
            )
        })?;
        self.index += 1;

        let mut header = GitHeader::default();
        let mut minus_path: Option<Option<String>> = None;
        let mut plus_path: Option<Option<String>> = None;
        let mut binary = false;
        while let Some(line) = self.current() {
            let text = line.lossy();
            let number = line.number;
            let mode = |value: &str| {
                u32::from_str_radix(value.trim(), 8)
                    .map_err(|_| self.error(number, format!("invalid file mode in `{text}`")))
            };
            if let Some(value) = text.strip_prefix("old mode ") {
                header.old_mode = Some(mode(value)?);
            } else if let Some(value) = text.strip_prefix("new mode ") {
                header.new_mode = Some(mode(value)?);
            } else if let Some(value) = text.strip_prefix("deleted file mode ") {
                header.deleted_file = true;
                header.old_mode = Some(mode(value)?);
            } else if let Some(value) = text.strip_prefix("new file mode ") {
                header.new_file = true;
                header.new_mode = Some(mode(value)?);
            } else if let Some(value) = text.strip_prefix("rename from ") {
                header.rename_from = Some(self.header_path(value, number)?);
            } else if let Some(value) = text.strip_prefix("rename to ") {
                header.rename_to = Some(self.header_path(value, number)?);
            } else if let Some(value) = text.strip_prefix("copy from ") {
                header.copy_from = Some(self.header_path(value, number)?);
            } else if let Some(value) = text.strip_prefix("copy to ") {
                header.copy_to = Some(self.header_path(value, number)?);
            } else if let Some(value) = text.strip_prefix("similarity index ") {
                header.similarity = value.trim_end_matches('%').parse().ok();
            } else if text.starts_with("dissimilarity index ") {
                // Only informative for a rewrite; the hunks say everything.
            } else if let Some(value) = text.strip_prefix("index ") {
                let mut parts = value.split_whitespace();
                if let Some((old, new)) = parts.next().and_then(|ids| ids.split_once("..")) {
                    header.old_blob = Some(old.to_string());
                    header.new_blob = Some(new.to_string());
                }
                if let Some(value) = parts.next() {
                    header.index_mode = Some(mode(value)?);
                }
            } else if text.starts_with("Binary files ") && text.ends_with(" differ") {
                binary = true;
                self.index += 1;
                break;
            } else if text == "GIT binary patch" {
                binary = true;
                self.index += 1;
                // Skip the base85 payload up to the next section or signature.
                while let Some(line) = self.current() {
                    if line.starts_with("diff --git ") || line.text == b"-- " {
                        break;
                    }
                    self.index += 1;
                }
                break;
            } else if let Some(value) = text.strip_prefix("--- ") {
                minus_path = Some(self.marker_path(value, number)?);
                self.index += 1;
                let plus = self
                    .current()
                    .filter(|l| l.starts_with("+++ "))
                    .ok_or_else(|| {
                        self.error(number + 1, "`---` line not followed by a `+++` line")
                    })?;
                let plus_text = plus.lossy();
                plus_path = Some(self.marker_path(&plus_text["+++ ".len()..], plus.number)?);
                self.index += 1;
                break;
            } else {
                // End of the extended header: the next section, a hunk-less
                // section's trailing text, or the signature.
                break;
            }
            self.index += 1;
        }

        let hunks = if binary { Vec::new() } else { self.hunks()? };
        let display = header_new.clone();

        let kind = if header.new_file || matches!(minus_path, Some(None)) {
            ChangeKind::Create
        } else if header.deleted_file || matches!(plus_path, Some(None)) {
            ChangeKind::Delete
        } else if header.rename_from.is_some() || header.rename_to.is_some() {
            ChangeKind::Rename
        } else if header.copy_from.is_some() || header.copy_to.is_some() {
            ChangeKind::Copy
        } else {
            ChangeKind::Modify
        };
        // The most explicit source of a path wins: rename/copy lines, then
        // the ---/+++ lines, then the `diff --git` line.
        let old_path = header
            .rename_from
            .or(header.copy_from)
            .or(minus_path.flatten())
            .unwrap_or(header_old);
        let new_path = header
            .rename_to
            .or(header.copy_to)
            .or(plus_path.flatten())
            .unwrap_or(header_new);
        let old_mode = header.old_mode.or(header.index_mode);
        let new_mode = header.new_mode.or(header.index_mode);

        if kind == ChangeKind::Modify && hunks.is_empty() && !binary && old_mode == new_mode {
            return Err(self.error(
                start.number,
                format!("diff for {display} has no hunks and changes nothing"),
            ));
        }
        Ok(FilePatch {
            kind,
            old_path: (kind != ChangeKind::Create).then_some(old_path),
            new_path: (kind != ChangeKind::Delete).then_some(new_path),
            old_mode: if kind == ChangeKind::Create {
                None
            } else {
                old_mode
            },
            new_mode: if kind == ChangeKind::Delete {
                None
            } else {
                new_mode
            },
            similarity: header.similarity,
            old_blob: header.old_blob,
            new_blob: header.new_blob,
            content: if binary {
                FileContent::Binary
            } else {
                FileContent::Text(hunks)
            },
            source: self.location(start.number),
        })
    }

    /// A non-git diff section: `--- a/path\tdate`, `+++ b/path\tdate`, hunks.
    fn plain_section(&mut self) -> Result<FilePatch, SeriesError> {
        let minus = &self.lines[self.index];
        let plus = &self.lines[self.index + 1];
        let strip = |line: &Line, marker: &str| -> Result<Option<String>, SeriesError> {
            let text = line.lossy();
            let raw = text[marker.len()..]
                .split('\t')
                .next()
                .unwrap_or("")
                .trim_end();
            self.marker_path(raw, line.number)
        };
        let old_path = strip(minus, "--- ")?;
        let new_path = strip(plus, "+++ ")?;
        let start = minus.number;
        self.index += 2;
        let hunks = self.hunks()?;
        let kind = match (&old_path, &new_path) {
            (None, None) => return Err(self.error(start, "both sides of the diff are /dev/null")),
            (None, Some(_)) => ChangeKind::Create,
            (Some(_), None) => ChangeKind::Delete,
            (Some(_), Some(_)) => ChangeKind::Modify,
        };
        // A plain diff has only one real name; the old one may be a backup
        // name (`foo.c.orig`), so a modification uses the new one.
        let (old_path, new_path) = match kind {
            ChangeKind::Modify => (new_path.clone(), new_path),
            _ => (old_path, new_path),
        };
        Ok(FilePatch {
            kind,
            old_path,
            new_path,
            old_mode: None,
            new_mode: None,
            similarity: None,
            old_blob: None,
            new_blob: None,
            content: FileContent::Text(hunks),
            source: self.location(start),
        })
    }

    /// A path of a `rename from`-style line: quoted or as is.
    fn header_path(&self, value: &str, number: usize) -> Result<String, SeriesError> {
        if value.starts_with('"') {
            match unquote_c_style(value) {
                Some((path, _)) => Ok(path),
                None => Err(self.error(number, format!("badly quoted path {value}"))),
            }
        } else {
            Ok(value.to_string())
        }
    }

    /// The path of a `---`/`+++` line without its `a/`-like first component;
    /// `None` for `/dev/null`.
    fn marker_path(&self, value: &str, number: usize) -> Result<Option<String>, SeriesError> {
        let value = value.trim_end_matches(['\r', ' ']);
        if value == "/dev/null" {
            return Ok(None);
        }
        let path = self.header_path(value, number)?;
        let stripped = strip_first_component(&path);
        if stripped.is_empty() {
            return Err(self.error(number, format!("no file name in `{value}`")));
        }
        Ok(Some(stripped))
    }

    fn hunks(&mut self) -> Result<Vec<Hunk>, SeriesError> {
        let mut hunks = Vec::new();
        while let Some(line) = self.current() {
            if !line.starts_with("@@ ") {
                break;
            }
            let hunk = self.hunk(hunks.len() + 1)?;
            hunks.push(hunk);
        }
        // An added or removed line right after a hunk means the hunk header
        // counts too few lines (a hand-edited patch): taking the hunk as
        // counted would drop that change silently.
        if let (Some(line), Some(last)) = (self.current(), hunks.last()) {
            let is_change = line.starts_with("+")
                || (line.starts_with("-") && !line.starts_with("-- ") && !line.starts_with("--- "));
            if is_change && !line.starts_with("+++ ") {
                return Err(self.error(
                    line.number,
                    format!(
                        "hunk #{} `{}` has more lines than its header counts",
                        hunks.len(),
                        last.header()
                    ),
                ));
            }
        }
        Ok(hunks)
    }

    fn hunk(&mut self, number_in_file: usize) -> Result<Hunk, SeriesError> {
        let header_line = &self.lines[self.index];
        let header_text = header_line.lossy();
        let (old_start, old_count, new_start, new_count, section) = parse_hunk_header(&header_text)
            .ok_or_else(|| {
                self.error(
                    header_line.number,
                    format!("malformed hunk header `{header_text}`"),
                )
            })?;
        self.index += 1;

        let mut lines: Vec<HunkLine> = Vec::new();
        let (mut old_seen, mut new_seen) = (0usize, 0usize);
        while old_seen < old_count || new_seen < new_count {
            let Some(line) = self.current() else {
                let last = self.lines.last().map_or(header_line.number, |l| l.number);
                return Err(self.error(
                    last,
                    format!(
                        "hunk #{number_in_file} `{header_text}` is truncated: the input ends after {old_seen} of {old_count} old and {new_seen} of {new_count} new lines"
                    ),
                ));
            };
            let (kind, text) = match line.text.first() {
                // Mailers strip the single space of an empty context line.
                None => (LineKind::Context, &[][..]),
                Some(b' ') => (LineKind::Context, &line.text[1..]),
                Some(b'-') => (LineKind::Removed, &line.text[1..]),
                Some(b'+') => (LineKind::Added, &line.text[1..]),
                Some(b'\\') => {
                    match lines.last_mut() {
                        Some(last) => last.no_newline = true,
                        None => return Err(self.error(line.number, "`\\ No newline at end of file` before any hunk line")),
                    }
                    self.index += 1;
                    continue;
                }
                Some(_) => {
                    return Err(self.error(
                        line.number,
                        format!(
                            "hunk #{number_in_file} `{header_text}` is truncated or corrupt: unexpected line {:?} after {old_seen} of {old_count} old and {new_seen} of {new_count} new lines",
                            line.lossy()
                        ),
                    ))
                }
            };
            let counts_old = kind != LineKind::Added;
            let counts_new = kind != LineKind::Removed;
            if (counts_old && old_seen >= old_count) || (counts_new && new_seen >= new_count) {
                return Err(self.error(
                    line.number,
                    format!("hunk #{number_in_file} `{header_text}` has more lines than its header counts"),
                ));
            }
            old_seen += usize::from(counts_old);
            new_seen += usize::from(counts_new);
            lines.push(HunkLine {
                kind,
                text: text.to_vec(),
                no_newline: false,
            });
            self.index += 1;
        }
        // The marker may follow the hunk's last line.
        if let (Some(line), Some(last)) = (self.current(), lines.last_mut()) {
            if line.starts_with("\\") {
                last.no_newline = true;
                self.index += 1;
            }
        }
        Ok(Hunk {
            old_start,
            old_count,
            new_start,
            new_count,
            section,
            lines,
            source: self.location(header_line.number),
        })
    }
}

/// `@@ -a[,b] +c[,d] @@ section` → (a, b, c, d, section).
fn parse_hunk_header(text: &str) -> Option<(usize, usize, usize, usize, String)> {
    let rest = text.strip_prefix("@@ -")?;
    let (ranges, section) = rest.split_once(" @@")?;
    let (old, new) = ranges.split_once(" +")?;
    let range = |value: &str| -> Option<(usize, usize)> {
        match value.split_once(',') {
            Some((start, count)) => Some((start.parse().ok()?, count.parse().ok()?)),
            None => Some((value.parse().ok()?, 1)),
        }
    };
    let (old_start, old_count) = range(old)?;
    let (new_start, new_count) = range(new)?;
    Some((
        old_start,
        old_count,
        new_start,
        new_count,
        section.trim_start().to_string(),
    ))
}

/// `a/mm/mmap.c` → `mm/mmap.c`; a path without a directory stays as is.
fn strip_first_component(path: &str) -> String {
    match path.split_once('/') {
        Some((_, rest)) if !rest.is_empty() => rest.to_string(),
        _ => path.to_string(),
    }
}

/// The two paths of `diff --git a/X b/Y` without their prefixes. Unquoted
/// paths may contain spaces; then the split where both names agree wins,
/// which is what git does for the common case of an unrenamed file.
fn split_git_header_paths(rest: &str) -> Option<(String, String)> {
    let rest = rest.trim_end();
    if rest.starts_with('"') {
        let (old, used) = unquote_c_style(rest)?;
        let second = rest[used..].trim_start();
        let new = if second.starts_with('"') {
            unquote_c_style(second)?.0
        } else {
            second.to_string()
        };
        return Some((strip_first_component(&old), strip_first_component(&new)));
    }
    if let Some(quote) = rest.find(" \"") {
        let (new, _) = unquote_c_style(&rest[quote + 1..])?;
        return Some((
            strip_first_component(&rest[..quote]),
            strip_first_component(&new),
        ));
    }
    // Same name on both sides: "a/NAME b/NAME".
    if rest.len() % 2 == 1 {
        let half = rest.len() / 2;
        if rest.is_char_boundary(half) && rest.as_bytes()[half] == b' ' {
            let (old, new) = (&rest[..half], &rest[half + 1..]);
            let (old, new) = (strip_first_component(old), strip_first_component(new));
            if old == new {
                return Some((old, new));
            }
        }
    }
    let split = rest.find(" b/").or_else(|| rest.find(' '))?;
    let (old, new) = (&rest[..split], &rest[split + 1..]);
    if old.is_empty() || new.is_empty() {
        return None;
    }
    Some((strip_first_component(old), strip_first_component(new)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunk_header_forms() {
        assert_eq!(
            parse_hunk_header("@@ -1 +1,2 @@"),
            Some((1, 1, 1, 2, String::new()))
        );
        assert_eq!(
            parse_hunk_header("@@ -10,7 +10,8 @@ static int foo(void)"),
            Some((10, 7, 10, 8, "static int foo(void)".to_string()))
        );
        assert_eq!(parse_hunk_header("@@ -x +1 @@"), None);
        assert_eq!(parse_hunk_header("@@ -1 +1"), None);
    }

    #[test]
    fn git_header_paths() {
        let pair = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
        assert_eq!(
            split_git_header_paths("a/mm/x.c b/mm/x.c"),
            pair("mm/x.c", "mm/x.c")
        );
        assert_eq!(
            split_git_header_paths("a/with space b/with space"),
            pair("with space", "with space")
        );
        assert_eq!(
            split_git_header_paths("a/old.c b/new.c"),
            pair("old.c", "new.c")
        );
        assert_eq!(
            split_git_header_paths("\"a/t\\tb\" \"b/t\\tb\""),
            pair("t\tb", "t\tb")
        );
        assert_eq!(split_git_header_paths(""), None);
    }
}
