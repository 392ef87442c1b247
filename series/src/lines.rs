//! Input split into numbered lines. Mails saved on some systems end lines
//! with CRLF; when every line does, the `\r` is transport noise and dropped.

/// One input line without its line terminator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub text: Vec<u8>,
    /// 1-based line number in the input file.
    pub number: usize,
}

impl Line {
    pub fn starts_with(&self, prefix: &str) -> bool {
        self.text.starts_with(prefix.as_bytes())
    }

    pub fn lossy(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }
}

/// Splits `input` into lines numbered from `first_number`.
pub(crate) fn split_lines(input: &[u8], first_number: usize) -> Vec<Line> {
    let mut pieces: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    // A trailing newline yields an empty last piece that is not a line.
    if pieces.last().is_some_and(|last| last.is_empty()) {
        pieces.pop();
    }
    let all_crlf = !pieces.is_empty() && pieces.iter().all(|piece| piece.ends_with(b"\r"));
    pieces
        .into_iter()
        .enumerate()
        .map(|(offset, piece)| {
            let text = if all_crlf {
                &piece[..piece.len() - 1]
            } else {
                piece
            };
            Line {
                text: text.to_vec(),
                number: first_number + offset,
            }
        })
        .collect()
}

/// Joins lines back with `\n` (no trailing newline after the last one).
pub(crate) fn join_lossy(lines: &[Line]) -> String {
    let mut out = String::new();
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        out.push_str(&String::from_utf8_lossy(&line.text));
    }
    out
}

/// Git's C-style quoted path (`"a/tab\there"`) → the path; `None` if the
/// quoting is broken.
pub(crate) fn unquote_c_style(quoted: &str) -> Option<(String, usize)> {
    let bytes = quoted.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Some((String::from_utf8_lossy(&out).into_owned(), i + 1)),
            b'\\' => {
                let escaped = *bytes.get(i + 1)?;
                i += 2;
                match escaped {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'a' => out.push(7),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'v' => out.push(11),
                    b'"' | b'\\' => out.push(escaped),
                    b'0'..=b'3' => {
                        let digits = bytes.get(i - 1..i + 2)?;
                        let mut value: u32 = 0;
                        for &d in digits {
                            if !(b'0'..=b'7').contains(&d) {
                                return None;
                            }
                            value = value * 8 + u32::from(d - b'0');
                        }
                        out.push(value as u8);
                        i += 2;
                    }
                    _ => return None,
                }
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_is_dropped_only_when_every_line_has_it() {
        let lines = split_lines(b"a\r\nb\r\n", 1);
        assert_eq!(lines[1].text, b"b");
        let lines = split_lines(b"a\r\nb\n", 1);
        assert_eq!(lines[0].text, b"a\r");
    }

    #[test]
    fn quoted_paths() {
        assert_eq!(
            unquote_c_style("\"a/x\\ty\\303\\251\" rest"),
            Some(("a/x\tyé".to_string(), 16))
        );
        assert_eq!(unquote_c_style("\"open"), None);
    }
}
