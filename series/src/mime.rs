//! The little MIME a patch mail needs: RFC 2047 encoded words in headers
//! (`=?UTF-8?q?...?=`) and quoted-printable / base64 bodies.

/// Decodes the encoded words of a header value. Anything that is not a valid
/// encoded word is kept as written, so a stray `=?` never loses text.
pub fn decode_header(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    // Whitespace between two encoded words is not part of the text (RFC 2047
    // section 6.2); hold it back until we know what follows.
    let mut pending_space = String::new();
    let mut last_was_word = false;
    while !rest.is_empty() {
        if let Some((decoded, consumed)) = parse_encoded_word(rest) {
            if !last_was_word {
                out.push_str(&pending_space);
            }
            pending_space.clear();
            out.push_str(&decoded);
            rest = &rest[consumed..];
            last_was_word = true;
            continue;
        }
        let ch = match rest.chars().next() {
            Some(ch) => ch,
            None => break,
        };
        rest = &rest[ch.len_utf8()..];
        if ch == ' ' || ch == '\t' {
            pending_space.push(ch);
        } else {
            out.push_str(&pending_space);
            pending_space.clear();
            out.push(ch);
            last_was_word = false;
        }
    }
    out.push_str(&pending_space);
    out
}

/// `=?charset?Q|B?text?=` at the start of `input` → (decoded, bytes used).
fn parse_encoded_word(input: &str) -> Option<(String, usize)> {
    let body = input.strip_prefix("=?")?;
    let charset_end = body.find('?')?;
    let charset = &body[..charset_end];
    let after_charset = &body[charset_end + 1..];
    // "q?" or "b?": both ASCII, so slicing after them stays on a boundary.
    let encoding = match after_charset.as_bytes() {
        [letter, b'?', ..] if matches!(letter.to_ascii_lowercase(), b'q' | b'b') => {
            letter.to_ascii_lowercase()
        }
        _ => return None,
    };
    let text_and_rest = &after_charset[2..];
    let text_end = text_and_rest.find("?=")?;
    let text = &text_and_rest[..text_end];
    if text.contains(' ') || charset.is_empty() {
        return None;
    }
    let bytes = if encoding == b'q' {
        decode_q(text)
    } else {
        decode_base64(text.as_bytes())?
    };
    // 2 for "=?", charset, "?x?", text, "?=".
    let consumed = 2 + charset_end + 1 + 2 + text_end + 2;
    Some((bytes_to_string(charset, &bytes), consumed))
}

fn decode_q(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => {
                out.push(b' ');
                i += 1;
            }
            b'=' => match bytes.get(i + 1..i + 3).and_then(hex_pair) {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None => {
                    out.push(b'=');
                    i += 1;
                }
            },
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    out
}

fn hex_pair(pair: &[u8]) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16);
    match pair {
        [hi, lo] => Some((digit(*hi)? * 16 + digit(*lo)?) as u8),
        _ => None,
    }
}

/// Bytes in a named charset to text. UTF-8 and ASCII are common; Latin-1 is
/// what older mailers still send; anything else is decoded as lossy UTF-8.
pub fn bytes_to_string(charset: &str, bytes: &[u8]) -> String {
    let charset = charset.to_ascii_lowercase();
    // RFC 2231 allows a language suffix: "utf-8*en".
    let charset = charset.split('*').next().unwrap_or("");
    match charset {
        "iso-8859-1" | "latin1" | "iso-8859-15" | "windows-1252" => {
            bytes.iter().map(|&b| b as char).collect()
        }
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Standard base64 with padding and line breaks tolerated; `None` on any
/// other character.
pub fn decode_base64(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &c in input {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\r' | b'\n' | b' ' | b'\t' => continue,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Decodes a quoted-printable body. Soft line breaks (`=` at the end of a
/// line) join lines; `=XX` is a byte.
pub fn decode_quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] != b'=' {
            out.push(input[i]);
            i += 1;
            continue;
        }
        if input.get(i + 1) == Some(&b'\n') {
            i += 2;
        } else if input.get(i + 1..i + 3) == Some(b"\r\n") {
            i += 3;
        } else if let Some(byte) = input.get(i + 1..i + 3).and_then(hex_pair) {
            out.push(byte);
            i += 3;
        } else {
            out.push(b'=');
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_encoded_subject() {
        assert_eq!(
            decode_header("=?UTF-8?q?mm/vmscan:=20fix=20caf=C3=A9_stall?="),
            "mm/vmscan: fix café stall"
        );
    }

    #[test]
    fn adjacent_words_drop_the_space_between() {
        assert_eq!(
            decode_header("[PATCH] =?utf-8?q?a?= =?utf-8?b?Yg==?= c"),
            "[PATCH] ab c"
        );
    }

    #[test]
    fn latin1_and_garbage_are_kept() {
        assert_eq!(decode_header("=?iso-8859-1?q?J=F6rg?="), "Jörg");
        assert_eq!(decode_header("=?broken"), "=?broken");
        assert_eq!(decode_header("a =?x?z?y?= b"), "a =?x?z?y?= b");
        // A multi-byte "encoding" letter must not split a character.
        assert_eq!(decode_header("=?x?€?abc?="), "=?x?€?abc?=");
    }

    #[test]
    fn quoted_printable_body() {
        assert_eq!(
            decode_quoted_printable(b"a=3Db=\nc\n=E2=82=AC\n"),
            "a=bc\n€\n".as_bytes()
        );
    }

    #[test]
    fn base64_round() {
        assert_eq!(
            decode_base64(b"aGVsbG8K\n").as_deref(),
            Some(&b"hello\n"[..])
        );
        assert_eq!(decode_base64(b"a!b"), None);
    }
}
