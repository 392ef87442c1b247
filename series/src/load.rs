//! `load_series`: mbox, single patch or directory → [`Series`].

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::diff;
use crate::error::SeriesError;
use crate::lines::{join_lossy, Line};
use crate::mbox::{self, header_line, parse_subject, Layout, Message};
use crate::mime;
use crate::model::{CoverLetter, IgnoredMessage, Patch, Series, SourceLocation, SubjectTags};

/// Loads a series from an mbox (`git format-patch --stdout`, `b4 am`), a
/// single patch (mail or bare diff) or a directory of `*.patch` files
/// (applied in file name order, `0000-cover-letter.patch` as the cover).
pub fn load_series(path: &Path) -> Result<Series, SeriesError> {
    let io_error = |error| SeriesError::Io {
        path: path.to_path_buf(),
        error,
    };
    let metadata = fs::metadata(path).map_err(io_error)?;
    let mut collected = Collected::default();
    if metadata.is_dir() {
        let mut patch_files = Vec::new();
        for entry in fs::read_dir(path).map_err(io_error)? {
            let entry = entry.map_err(io_error)?;
            let file_path = entry.path();
            let is_patch = file_path.extension().is_some_and(|ext| ext == "patch");
            if is_patch && file_path.is_file() {
                patch_files.push(file_path);
            }
        }
        // Byte order of the names: 0001-..., 0002-..., as format-patch names them.
        patch_files.sort();
        if patch_files.is_empty() {
            return Err(SeriesError::NoPatches {
                path: path.to_path_buf(),
                found: "the directory has no *.patch files".to_string(),
            });
        }
        for file_path in &patch_files {
            let bytes = fs::read(file_path).map_err(|error| SeriesError::Io {
                path: file_path.clone(),
                error,
            })?;
            collect_file(&bytes, file_path, &mut collected)?;
        }
    } else {
        let bytes = fs::read(path).map_err(io_error)?;
        collect_file(&bytes, path, &mut collected)?;
    }
    finish(path, collected)
}

/// Parses the bytes of one mbox or patch file; `source` is the name used in
/// errors and locations. Never panics, whatever the input.
pub fn parse_series(input: &[u8], source: &Path) -> Result<Series, SeriesError> {
    let mut collected = Collected::default();
    collect_file(input, source, &mut collected)?;
    finish(source, collected)
}

#[derive(Default)]
struct Collected {
    cover: Option<CoverLetter>,
    patches: Vec<Patch>,
    ignored: Vec<IgnoredMessage>,
}

fn collect_file(input: &[u8], file: &Path, collected: &mut Collected) -> Result<(), SeriesError> {
    match mbox::split(input, file)? {
        Layout::BareDiff(lines) => {
            let files = diff::parse_diff(&lines, file)?;
            if files.is_empty() {
                let line = lines
                    .iter()
                    .find(|l| !l.text.is_empty())
                    .map_or(1, |l| l.number);
                return Err(SeriesError::malformed(
                    file,
                    line,
                    if lines.iter().all(|l| l.text.is_empty()) {
                        "empty input: no mail and no diff"
                    } else {
                        "neither a mail nor a diff: no `From ` line, mail header or `diff --git` found"
                    },
                ));
            }
            // A bare diff has no subject; its file name is the best name.
            let subject = file
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
                .unwrap_or_default();
            collected.patches.push(Patch {
                index: 0,
                subject,
                tags: SubjectTags::default(),
                author: String::new(),
                date: String::new(),
                commit: None,
                message: String::new(),
                files,
                source: location(file, 1),
            });
        }
        Layout::Mails(messages) => {
            for message in messages {
                collect_message(message, file, collected)?;
            }
        }
    }
    Ok(())
}

fn location(file: &Path, line: usize) -> SourceLocation {
    SourceLocation {
        file: file.to_path_buf(),
        line,
    }
}

fn collect_message(
    message: Message,
    file: &Path,
    collected: &mut Collected,
) -> Result<(), SeriesError> {
    let mut subject_raw = message.header("subject").unwrap_or_default().to_string();
    let mut author = mime::decode_header(message.header("from").unwrap_or_default());
    let mut date = message.header("date").unwrap_or_default().to_string();

    // In-body headers: `git format-patch` puts the real author first in the
    // body when the sender is someone else, and `git am` honours them.
    let mut body: &[Line] = &message.body;
    if body.first().is_some_and(|l| is_in_body_header(&l.text)) {
        let end = body
            .iter()
            .position(|l| l.text.is_empty())
            .unwrap_or(body.len());
        if body[..end].iter().all(|l| is_in_body_header(&l.text)) {
            for line in &body[..end] {
                let text = line.lossy();
                let (name, value) = text.split_once(':').unwrap_or((&text, ""));
                match name.to_ascii_lowercase().as_str() {
                    "from" => author = mime::decode_header(value.trim()),
                    "subject" => subject_raw = value.trim().to_string(),
                    _ => date = value.trim().to_string(),
                }
            }
            body = body.get(end + 1..).unwrap_or(&[]);
        }
    }

    let (subject, tags, reply) = parse_subject(&subject_raw);
    let source = location(file, message.start_line);
    if reply {
        collected.ignored.push(IgnoredMessage {
            subject,
            reason: "a reply (`Re:`), not a patch".to_string(),
            source,
        });
        return Ok(());
    }

    let diff_start = (0..body.len()).find(|&i| diff::diff_starts_at(body, i));
    let message_end = {
        let limit = diff_start.unwrap_or(body.len());
        body[..limit]
            .iter()
            .position(|l| l.text == b"---" || l.text == b"-- ")
            .unwrap_or(limit)
    };
    let text = trim_blank_lines(&body[..message_end]);

    if tags.number.is_some_and(|(n, _)| n == 0) {
        if collected.cover.is_some() {
            collected.ignored.push(IgnoredMessage {
                subject,
                reason: "a second cover letter".to_string(),
                source,
            });
        } else {
            collected.cover = Some(CoverLetter {
                subject,
                tags,
                author,
                date,
                body: join_lossy(trim_blank_lines(body)),
                source,
            });
        }
        return Ok(());
    }

    let Some(diff_start) = diff_start else {
        return Err(SeriesError::malformed(
            file,
            header_line(&message, "subject"),
            format!("mail {subject:?} contains no diff (and is not a `[PATCH 0/N]` cover letter)"),
        ));
    };
    let files = diff::parse_diff(&body[diff_start..], file)?;
    collected.patches.push(Patch {
        index: 0,
        subject,
        tags,
        author,
        date,
        commit: message.commit.clone(),
        message: join_lossy(text),
        files,
        source,
    });
    Ok(())
}

fn is_in_body_header(text: &[u8]) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.starts_with(b"from:") || lower.starts_with(b"subject:") || lower.starts_with(b"date:")
}

fn trim_blank_lines(lines: &[Line]) -> &[Line] {
    let is_blank = |l: &Line| l.text.iter().all(u8::is_ascii_whitespace);
    let start = lines
        .iter()
        .position(|l| !is_blank(l))
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !is_blank(l))
        .map_or(start, |i| i + 1);
    &lines[start..end]
}

/// Orders numbered patches by their `n/m`, checks the numbering, and gives
/// every patch its 1-based index.
fn finish(path: &Path, collected: Collected) -> Result<Series, SeriesError> {
    let Collected {
        cover,
        mut patches,
        ignored,
    } = collected;
    if patches.is_empty() {
        let found = match (&cover, ignored.len()) {
            (Some(_), 0) => "only a cover letter".to_string(),
            (Some(_), replies) => format!("only a cover letter and {replies} ignored mail(s)"),
            (None, ignored) => format!("only {ignored} ignored mail(s) (replies)"),
        };
        return Err(SeriesError::NoPatches {
            path: path.to_path_buf(),
            found,
        });
    }
    let mut warnings = Vec::new();
    let numbers: Option<Vec<(u32, u32)>> = patches.iter().map(|p| p.tags.number).collect();
    if let Some(numbers) = numbers {
        let mut seen: BTreeMap<u32, &SourceLocation> = BTreeMap::new();
        for (patch, &(n, m)) in patches.iter().zip(&numbers) {
            if let Some(first) = seen.insert(n, &patch.source) {
                return Err(SeriesError::Malformed {
                    location: patch.source.clone(),
                    message: format!(
                        "two patches numbered {n}/{m} (the other one at {first}); mixed versions of a series?"
                    ),
                });
            }
        }
        let totals: std::collections::BTreeSet<u32> = numbers.iter().map(|&(_, m)| m).collect();
        if totals.len() > 1 {
            let listed: Vec<String> = totals.iter().map(|m| format!("n/{m}")).collect();
            return Err(SeriesError::Malformed {
                location: patches[0].source.clone(),
                message: format!(
                    "patches of different series ({}) in one input",
                    listed.join(", ")
                ),
            });
        }
        if let Some(&total) = totals.iter().next() {
            let missing: Vec<String> = (1..=total)
                .filter(|n| !seen.contains_key(n))
                .map(|n| format!("{n}/{total}"))
                .collect();
            if !missing.is_empty() {
                warnings.push(format!(
                    "patches missing from the series: {}",
                    missing.join(", ")
                ));
            }
        }
        // Stable: equal numbers cannot happen after the check above.
        patches.sort_by_key(|p| p.tags.number.map_or(0, |(n, _)| n));
    }
    for (position, patch) in patches.iter_mut().enumerate() {
        patch.index = position + 1;
    }
    Ok(Series {
        source: path.to_path_buf(),
        cover,
        patches,
        ignored,
        warnings,
    })
}
