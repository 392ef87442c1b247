//! Splitting an mbox into messages and reading their headers: `From `
//! separators, folded RFC 2822 headers, MIME subjects, `>From` unescaping,
//! transfer encodings, and the `[PATCH v2 3/7]` subject prefixes.

use std::path::Path;

use crate::error::SeriesError;
use crate::lines::{split_lines, Line};
use crate::mime;
use crate::model::SubjectTags;

/// One mail of the input.
#[derive(Debug)]
pub(crate) struct Message {
    /// Line of the `From ` separator, or of the first header.
    pub start_line: usize,
    /// The commit id of a `git format-patch` separator.
    pub commit: Option<String>,
    /// Unfolded headers: (lower-case name, value, line).
    pub headers: Vec<(String, String, usize)>,
    /// The body, transfer-decoded and `>From`-unescaped.
    pub body: Vec<Line>,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _, _)| header == name)
            .map(|(_, value, _)| value.as_str())
    }
}

/// Is this an mbox `From ` separator line? It must look like
/// `From <sender> <date with a time>` and be followed by a header line, so
/// that a commit message sentence starting with "From " is not taken for one.
fn is_separator(lines: &[Line], index: usize) -> bool {
    let line = &lines[index];
    if !line.starts_with("From ") {
        return false;
    }
    let text = line.lossy();
    let mut words = text["From ".len()..].split_whitespace();
    let sender = words.next();
    // mbox wants an empty line before a separator; `cat *.patch` of files
    // without a trailing empty line does not give one, so git's own
    // separators (a commit id, or git's fixed date) are taken anyway.
    let git_separator = sender
        .is_some_and(|s| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        || text.ends_with(" Mon Sep 17 00:00:00 2001");
    if index > 0 && !lines[index - 1].text.is_empty() && !git_separator {
        return false;
    }
    let has_sender = sender.is_some();
    let has_time = words.any(|word| {
        let parts: Vec<&str> = word.split(':').collect();
        parts.len() >= 2
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    });
    has_sender && has_time && lines.get(index + 1).is_some_and(is_header_line)
}

/// `Name: value` with an RFC 2822 field name.
fn is_header_line(line: &Line) -> bool {
    match line.text.iter().position(|&b| b == b':') {
        Some(colon) if colon > 0 => line.text[..colon].iter().all(|&b| (33..=126).contains(&b)),
        _ => false,
    }
}

/// How the input is laid out.
pub(crate) enum Layout {
    /// One or more mails (with or without `From ` separators).
    Mails(Vec<Message>),
    /// A bare diff without any mail headers.
    BareDiff(Vec<Line>),
}

/// Splits the input into mails, or recognizes a bare diff.
pub(crate) fn split(input: &[u8], file: &Path) -> Result<Layout, SeriesError> {
    let lines = split_lines(input, 1);
    let separators: Vec<usize> = (0..lines.len())
        .filter(|&i| is_separator(&lines, i))
        .collect();
    if separators.is_empty() {
        let first = lines.iter().position(|l| !l.text.is_empty());
        return match first {
            Some(first) if is_header_line(&lines[first]) && !lines[first].starts_with("diff ") => {
                Ok(Layout::Mails(vec![read_message(
                    &lines[first..],
                    None,
                    file,
                )?]))
            }
            _ => Ok(Layout::BareDiff(lines)),
        };
    }
    // Text before the first separator is not part of any mail; a patch
    // there would be lost silently, so refuse it.
    if let Some(stray) = lines[..separators[0]].iter().find(|l| !l.text.is_empty()) {
        return Err(SeriesError::malformed(
            file,
            stray.number,
            "text before the first `From ` line of the mbox",
        ));
    }
    let mut messages = Vec::with_capacity(separators.len());
    for (nth, &start) in separators.iter().enumerate() {
        let end = separators.get(nth + 1).copied().unwrap_or(lines.len());
        let separator = lines[start].lossy();
        let commit = separator
            .split_whitespace()
            .nth(1)
            .filter(|id| id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_string);
        let mut message = read_message(&lines[start + 1..end], commit, file)?;
        message.start_line = lines[start].number;
        unescape_from_lines(&mut message.body);
        messages.push(message);
    }
    Ok(Layout::Mails(messages))
}

/// mboxrd quoting: `>From ` → `From `, `>>From ` → `>From `.
fn unescape_from_lines(body: &mut [Line]) {
    for line in body {
        let quotes = line.text.iter().take_while(|&&b| b == b'>').count();
        if quotes > 0 && line.text[quotes..].starts_with(b"From ") {
            line.text.remove(0);
        }
    }
}

/// Headers up to the first empty line, then the body.
fn read_message(
    lines: &[Line],
    commit: Option<String>,
    file: &Path,
) -> Result<Message, SeriesError> {
    let mut headers: Vec<(String, String, usize)> = Vec::new();
    let mut body_start = lines.len();
    for (index, line) in lines.iter().enumerate() {
        if line.text.is_empty() {
            body_start = index + 1;
            break;
        }
        let continuation = matches!(line.text.first(), Some(b' ') | Some(b'\t'));
        if continuation {
            if let Some((_, value, _)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.lossy().trim());
                continue;
            }
        }
        if !is_header_line(line) {
            // Not a header: the mail has no empty line after its headers.
            body_start = index;
            break;
        }
        let text = line.lossy();
        let (name, value) = text.split_once(':').unwrap_or((&text, ""));
        headers.push((
            name.to_ascii_lowercase(),
            value.trim().to_string(),
            line.number,
        ));
    }
    let start_line = lines.first().map_or(1, |l| l.number);
    let mut message = Message {
        start_line,
        commit,
        headers,
        body: lines.get(body_start..).unwrap_or(&[]).to_vec(),
    };
    decode_body(&mut message, file)?;
    Ok(message)
}

/// Undoes `Content-Transfer-Encoding`. Line numbers of a decoded body count
/// from its first line: exact for 8bit, approximate for the encodings.
fn decode_body(message: &mut Message, file: &Path) -> Result<(), SeriesError> {
    if let Some(content_type) = message.header("content-type") {
        if content_type
            .trim()
            .to_ascii_lowercase()
            .starts_with("multipart/")
        {
            let line = header_line(message, "content-type");
            return Err(SeriesError::malformed(
                file,
                line,
                "multipart MIME mails (patches as attachments) are not supported; save the series with `git format-patch` or `b4 am`",
            ));
        }
    }
    let encoding = message
        .header("content-transfer-encoding")
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let first_number = message
        .body
        .first()
        .map_or(message.start_line, |l| l.number);
    let joined = || {
        let mut bytes = Vec::new();
        for line in &message.body {
            bytes.extend_from_slice(&line.text);
            bytes.push(b'\n');
        }
        bytes
    };
    let decoded = match encoding.as_str() {
        "quoted-printable" => mime::decode_quoted_printable(&joined()),
        "base64" => match mime::decode_base64(&joined()) {
            Some(bytes) => bytes,
            None => {
                return Err(SeriesError::malformed(
                    file,
                    first_number,
                    "invalid base64 mail body",
                ));
            }
        },
        _ => return Ok(()),
    };
    message.body = split_lines(&decoded, first_number);
    Ok(())
}

pub(crate) fn header_line(message: &Message, name: &str) -> usize {
    message
        .headers
        .iter()
        .find(|(header, _, _)| header == name)
        .map_or(message.start_line, |(_, _, line)| *line)
}

/// A subject without its `Re:` and `[...]` prefixes, what the prefixes said,
/// and whether it was a reply.
pub(crate) fn parse_subject(raw: &str) -> (String, SubjectTags, bool) {
    let decoded = mime::decode_header(raw);
    let mut rest = decoded.trim();
    let mut tags = SubjectTags::default();
    let mut reply = false;
    loop {
        let lower = rest.get(..3).map(str::to_ascii_lowercase);
        if lower.as_deref() == Some("re:") || lower.as_deref() == Some("aw:") {
            reply = true;
            rest = rest[3..].trim_start();
        } else if rest.starts_with('[') {
            let Some(close) = rest.find(']') else { break };
            let group = &rest[1..close];
            read_tags(group, &mut tags);
            tags.raw.push(group.to_string());
            rest = rest[close + 1..].trim_start();
        } else {
            break;
        }
    }
    (rest.to_string(), tags, reply)
}

fn read_tags(group: &str, tags: &mut SubjectTags) {
    for word in group.split(|c: char| c.is_whitespace() || c == ',') {
        if word.eq_ignore_ascii_case("rfc") {
            tags.rfc = true;
        } else if let Some(version) = word.strip_prefix(['v', 'V']).and_then(|v| v.parse().ok()) {
            tags.version = Some(version);
        } else if let Some((n, m)) = word.split_once('/') {
            if let (Ok(n), Ok(m)) = (n.parse(), m.parse()) {
                tags.number = Some((n, m));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_prefixes() {
        let (subject, tags, reply) = parse_subject("[RFC PATCH v2 03/7] mm: fix it");
        assert_eq!(subject, "mm: fix it");
        assert_eq!(tags.number, Some((3, 7)));
        assert_eq!(tags.version, Some(2));
        assert!(tags.rfc && !reply);

        let (subject, tags, reply) = parse_subject("Re: [PATCH mm-unstable] [RFC] x: y [z]");
        assert_eq!(subject, "x: y [z]");
        assert_eq!(tags.raw, vec!["PATCH mm-unstable", "RFC"]);
        assert!(reply && tags.rfc && tags.number.is_none());

        let (subject, _, _) = parse_subject("[PATCH unclosed");
        assert_eq!(subject, "[PATCH unclosed");
    }

    #[test]
    fn separator_needs_a_date_and_a_header_after() {
        let lines = split_lines(b"From abc Mon Sep 17 00:00:00 2001\nFrom: x\n", 1);
        assert!(is_separator(&lines, 0));
        let lines = split_lines(b"From the allocator we get pages\nFrom: x\n", 1);
        assert!(!is_separator(&lines, 0));
        let lines = split_lines(b"From abc Mon Sep 17 00:00:00 2001\nnot a header\n", 1);
        assert!(!is_separator(&lines, 0));
        // Inside a paragraph only git's own separators count.
        let lines = split_lines(b"text\nFrom me Mon Nov 23 10:00:00 2026\nTo: x\n", 1);
        assert!(!is_separator(&lines, 1));
        let lines = split_lines(b"2.47.3\nFrom abc Mon Sep 17 00:00:00 2001\nFrom: x\n", 1);
        assert!(is_separator(&lines, 1));
    }
}
