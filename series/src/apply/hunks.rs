//! Applying the hunks of one file to its content, like `git apply` without
//! fuzz: every context and removed line must match exactly, but a hunk may
//! be found at an offset from its stated line (the nearest match wins).

use crate::model::{Hunk, LineKind};

/// Why a hunk did not match, in terms a reader can check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HunkMismatch {
    /// 0-based hunk index in the file.
    pub hunk_index: usize,
    /// 1-based line of the file before the patch where the hunk was expected.
    pub expected_line: usize,
    /// `None`: the end of the file.
    pub expected_text: Option<String>,
    pub found_text: Option<String>,
}

/// A hunk that applied away from the line it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MovedHunk {
    /// 0-based hunk index in the file.
    pub hunk_index: usize,
    /// 1-based line of the result where the hunk's first line landed.
    pub line: usize,
    /// Lines from where the hunk said it was (positive: further down).
    pub offset: i64,
}

/// The new content, and the hunks that needed an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Applied {
    pub content: Vec<u8>,
    pub moved: Vec<MovedHunk>,
}

/// A hunk as lines of the file: each line keeps its `\n` unless the patch
/// says `\ No newline at end of file`, so that such a line only matches a
/// last line without newline.
struct PreparedHunk {
    before: Vec<Vec<u8>>,
    after: Vec<Vec<u8>>,
    nominal_position: usize,
    must_match_at_start: bool,
    must_match_at_end: bool,
}

fn prepare(hunk: &Hunk, reverse: bool, unidiff_zero: bool) -> PreparedHunk {
    let mut before = Vec::new();
    let mut after = Vec::new();
    for line in &hunk.lines {
        let mut bytes = line.text.clone();
        if !line.no_newline {
            bytes.push(b'\n');
        }
        let (in_before, in_after) = match (line.kind, reverse) {
            (LineKind::Context, _) => (true, true),
            (LineKind::Removed, false) | (LineKind::Added, true) => (true, false),
            (LineKind::Added, false) | (LineKind::Removed, true) => (false, true),
        };
        if in_before {
            before.push(bytes.clone());
        }
        if in_after {
            after.push(bytes);
        }
    }
    let (old_start, new_start, new_count) = if reverse {
        (hunk.new_start, hunk.old_start, hunk.old_count)
    } else {
        (hunk.old_start, hunk.new_start, hunk.new_count)
    };
    let trailing = hunk
        .lines
        .iter()
        .rev()
        .take_while(|l| l.kind == LineKind::Context)
        .count();
    // Earlier hunks were applied in place, so the new-side line numbers are
    // the ones that hold in the image. A hunk that leaves no lines names the
    // line before it.
    let nominal_position = if new_count == 0 {
        new_start
    } else {
        new_start.saturating_sub(1)
    };
    PreparedHunk {
        before,
        after,
        nominal_position,
        // As git apply: a hunk at the top (old line 0 or 1) must match at
        // the top, a hunk without trailing context must match at the end.
        must_match_at_start: old_start == 0 || (old_start == 1 && !unidiff_zero),
        must_match_at_end: !unidiff_zero && trailing == 0,
    }
}

/// Was the file's diff made with `-U0`? Only then can a hunk lack leading
/// context away from the top of the file. Without context nothing says
/// where the file starts or ends, so such hunks are not anchored (what
/// `git apply --unidiff-zero` does); otherwise they are, as in git.
fn is_unidiff_zero(hunks: &[Hunk], reverse: bool) -> bool {
    hunks.iter().any(|hunk| {
        let start = if reverse {
            hunk.new_start
        } else {
            hunk.old_start
        };
        let leading = hunk
            .lines
            .iter()
            .take_while(|l| l.kind == LineKind::Context)
            .count();
        leading == 0 && start > 1
    })
}

/// Splits content into lines that keep their `\n`.
fn split_keeping_newlines(content: &[u8]) -> Vec<Vec<u8>> {
    content
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn matches_at(image: &[Vec<u8>], position: usize, lines: &[Vec<u8>]) -> bool {
    image
        .get(position..position + lines.len())
        .is_some_and(|window| window == lines)
}

/// Applies `hunks` (in order) to `content`; `reverse` undoes them instead.
pub(crate) fn apply_hunks(
    content: &[u8],
    hunks: &[Hunk],
    reverse: bool,
) -> Result<Applied, HunkMismatch> {
    let mut image = split_keeping_newlines(content);
    // How far the hunks so far were found from where they said they were.
    // i128: line numbers come from the patch and may be absurdly large.
    let mut drift: i128 = 0;
    // Hunks are ordered: one cannot apply before the end of the previous.
    let mut lowest_position = 0usize;
    // Lines added minus lines removed so far, to report original line numbers.
    let mut growth: i128 = 0;
    let mut moved = Vec::new();
    let unidiff_zero = is_unidiff_zero(hunks, reverse);

    for (hunk_index, hunk) in hunks.iter().enumerate() {
        let prepared = prepare(hunk, reverse, unidiff_zero);
        let size = prepared.before.len();
        let highest_position = image.len().checked_sub(size);
        let expected = (prepared.nominal_position as i128 + drift)
            .clamp(lowest_position as i128, image.len() as i128);
        // In range of a usize: clamped between two of them.
        let expected = usize::try_from(expected).unwrap_or(lowest_position);

        let found = highest_position.and_then(|highest| {
            find_nearest(&image, &prepared, expected, lowest_position, highest)
        });
        let Some(position) = found else {
            return Err(describe_mismatch(
                &image,
                &prepared,
                hunk_index,
                expected,
                highest_position,
                growth,
            ));
        };
        drift = position as i128 - prepared.nominal_position as i128;
        if drift != 0 {
            moved.push(MovedHunk {
                hunk_index,
                line: position + 1,
                offset: i64::try_from(drift).unwrap_or(i64::MAX),
            });
        }
        image.splice(position..position + size, prepared.after.iter().cloned());
        lowest_position = position + prepared.after.len();
        growth += prepared.after.len() as i128 - size as i128;
    }
    Ok(Applied {
        content: image.concat(),
        moved,
    })
}

/// The match nearest to `expected` within `[lowest, highest]`, trying the
/// earlier position first on a tie (as git does).
fn find_nearest(
    image: &[Vec<u8>],
    hunk: &PreparedHunk,
    expected: usize,
    lowest: usize,
    highest: usize,
) -> Option<usize> {
    if hunk.must_match_at_start || hunk.must_match_at_end {
        let position = if hunk.must_match_at_end { highest } else { 0 };
        let start_ok = !hunk.must_match_at_start || position == 0;
        return (start_ok && position >= lowest && matches_at(image, position, &hunk.before))
            .then_some(position);
    }
    if lowest > highest {
        return None;
    }
    let expected = expected.clamp(lowest, highest);
    let reach = (expected - lowest).max(highest - expected);
    for distance in 0..=reach {
        if let Some(earlier) = expected.checked_sub(distance).filter(|&p| p >= lowest) {
            if matches_at(image, earlier, &hunk.before) {
                return Some(earlier);
            }
        }
        let later = expected + distance;
        if distance > 0 && later <= highest && matches_at(image, later, &hunk.before) {
            return Some(later);
        }
    }
    None
}

fn describe_mismatch(
    image: &[Vec<u8>],
    hunk: &PreparedHunk,
    hunk_index: usize,
    expected: usize,
    highest: Option<usize>,
    growth: i128,
) -> HunkMismatch {
    // Where the hunk had to be: its anchor when it has one. A hunk anchored
    // at both ends must be the whole file: check from the top.
    let position = if hunk.must_match_at_start {
        0
    } else if hunk.must_match_at_end {
        highest.unwrap_or(0)
    } else {
        expected
    };
    let show = |line: &[u8]| {
        let text = String::from_utf8_lossy(line);
        match text.strip_suffix('\n') {
            Some(text) => text.to_string(),
            None => format!("{text} (no newline at end of file)"),
        }
    };
    let mismatch = hunk
        .before
        .iter()
        .enumerate()
        .find(|(offset, line)| image.get(position + offset) != Some(*line));
    let (offset, expected_text, found_text) = match mismatch {
        Some((offset, line)) => (
            offset,
            Some(show(line)),
            image.get(position + offset).map(|l| show(l)),
        ),
        // All lines matched, so the anchor failed: the file goes on where
        // the hunk says it ends.
        None if hunk.must_match_at_end && position + hunk.before.len() < image.len() => {
            let offset = hunk.before.len();
            (offset, None, image.get(position + offset).map(|l| show(l)))
        }
        // Matched, but before an earlier hunk: name its first line.
        None => (
            0,
            hunk.before.first().map(|l| show(l)),
            image.get(position).map(|l| show(l)),
        ),
    };
    let original_line = (position + offset) as i128 - growth + 1;
    HunkMismatch {
        hunk_index,
        expected_line: usize::try_from(original_line.max(1)).unwrap_or(usize::MAX),
        expected_text,
        found_text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HunkLine, SourceLocation};

    fn hunk(old_start: usize, new_start: usize, lines: &[&str]) -> Hunk {
        let lines: Vec<HunkLine> = lines
            .iter()
            .map(|l| HunkLine {
                kind: match &l[..1] {
                    " " => LineKind::Context,
                    "-" => LineKind::Removed,
                    _ => LineKind::Added,
                },
                text: l.as_bytes()[1..].to_vec(),
                no_newline: false,
            })
            .collect();
        let old_count = lines.iter().filter(|l| l.kind != LineKind::Added).count();
        let new_count = lines.iter().filter(|l| l.kind != LineKind::Removed).count();
        Hunk {
            old_start,
            old_count,
            new_start,
            new_count,
            section: String::new(),
            lines,
            source: SourceLocation {
                file: "t".into(),
                line: 1,
            },
        }
    }

    #[test]
    fn applies_at_offset_and_keeps_drift() {
        let content = b"x\nx\na\nb\nc\nd\ne\nf\ng\n";
        let hunks = [
            hunk(2, 2, &[" a", "-b", "+B", " c"]),
            hunk(5, 5, &[" e", "-f", "+F", " g"]),
        ];
        let result = apply_hunks(content, &hunks, false).unwrap();
        assert_eq!(result.moved.len(), 2);
        assert_eq!((result.moved[1].line, result.moved[1].offset), (7, 2));
        assert_eq!(result.content, b"x\nx\na\nB\nc\nd\ne\nF\ng\n");
    }

    #[test]
    fn nearest_match_wins() {
        let content = b"a\nb\nz\nz\nz\na\nb\n";
        let result = apply_hunks(content, &[hunk(5, 5, &[" a", "-b", "+B"])], false);
        // No trailing context: must match at the end.
        assert_eq!(result.unwrap().content, b"a\nb\nz\nz\nz\na\nB\n");
        let content = b"q\na\nb\nq\nq\nq\nq\na\nb\nq\n";
        let result = apply_hunks(content, &[hunk(3, 3, &[" a", "-b", "+B", " q"])], false);
        assert_eq!(result.unwrap().content, b"q\na\nB\nq\nq\nq\nq\na\nb\nq\n");
    }

    #[test]
    fn mismatch_names_expected_line() {
        let content = b"a\nb\nc\nd\n";
        let error = apply_hunks(content, &[hunk(2, 2, &[" b", "-X", " d"])], false).unwrap_err();
        assert_eq!(error.expected_line, 3);
        assert_eq!(error.expected_text.as_deref(), Some("X"));
        assert_eq!(error.found_text.as_deref(), Some("c"));
    }

    #[test]
    fn context_free_hunk_anchors_unless_the_diff_is_unidiff_zero() {
        // -U3 diff of a one-line file: the hunk is the whole file.
        let whole = [hunk(1, 1, &["-", "+added"])];
        assert!(apply_hunks(b"\n\n", &whole, false).is_err());
        assert_eq!(
            apply_hunks(b"\n", &whole, false).unwrap().content,
            b"added\n"
        );
        // -U0: a hunk without context below line 1 gives it away.
        let zero = [hunk(1, 1, &["-a", "+A"]), hunk(3, 3, &["-c", "+C"])];
        let result = apply_hunks(b"a\nb\nc\nd\n", &zero, false).unwrap();
        assert_eq!(result.content, b"A\nb\nC\nd\n");
    }

    #[test]
    fn reverse_undoes() {
        let hunks = [hunk(1, 1, &[" a", "-b", "+B", " c"])];
        let forward = apply_hunks(b"a\nb\nc\n", &hunks, false).unwrap().content;
        assert_eq!(
            apply_hunks(&forward, &hunks, true).unwrap().content,
            b"a\nb\nc\n"
        );
    }
}
