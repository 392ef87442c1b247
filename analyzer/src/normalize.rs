//! Source normalization: turns kernel C into C that tree-sitter-c parses.
//!
//! tree-sitter-c is not a preprocessor, and kernel code is full of macros. This
//! stage rewrites the text *without changing its length*: every rewrite
//! replaces bytes with bytes (usually spaces), newlines never move. So a byte
//! offset, line or column in the normalized text is the same in the original
//! file: the offset map back to the source is the identity, which the property
//! tests check.
//!
//! What is rewritten (hints come from the catalogue's `[macros]` table):
//! - preprocessor lines are blanked; of `#if/#else` groups only the first live
//!   branch is kept (so `#ifdef` blocks cannot split statements); `#if 0` bodies
//!   are dropped;
//! - annotations (`__init`, `__user`, ...) and annotation calls
//!   (`__acquires(x)`, `__must_hold(x)`) are blanked; lock annotations are kept
//!   as [`Hint`]s for the lock analysis;
//! - `SYSCALL_DEFINEn(name, t, a, ...)` becomes `long sys_name(t  a, ...)`;
//! - loop macros (`for_each_vma(vmi, vma) {`) become `while` loops and block
//!   macros (`scoped_guard(rcu) {`) become `if` blocks;
//! - type arguments of macro calls (`container_of(p, struct x, m)`,
//!   `min_t(unsigned long, a, b)`) become one identifier of the same length.

use crate::catalogue::Catalogue;

/// A lock annotation found in the source (`__must_hold(&mm->mmap_lock)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub offset: usize,
    pub name: String,
    pub argument: String,
}

#[derive(Debug, Clone)]
pub struct Normalized {
    pub text: String,
    pub hints: Vec<Hint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokKind {
    Ident,
    Punct(u8),
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Tok {
    kind: TokKind,
    start: usize,
    end: usize,
}

pub fn normalize(source: &str, catalogue: &Catalogue) -> Normalized {
    normalize_selected(source, catalogue, None)
}

/// Like [`normalize`], but blanks everything outside the `keep` byte ranges
/// (after preprocessor groups were resolved on the whole file), so only the
/// selected chunks cost lexing and parsing.
pub fn normalize_selected(
    source: &str,
    catalogue: &Catalogue,
    keep: Option<&[(usize, usize)]>,
) -> Normalized {
    let mut buf = source.as_bytes().to_vec();
    blank_preprocessor(&mut buf);
    if let Some(keep) = keep {
        let mut pos = 0;
        for &(a, b) in keep {
            if a > pos {
                blank(&mut buf, pos, a);
            }
            pos = pos.max(b);
        }
        let n = buf.len();
        blank(&mut buf, pos.min(n), n);
    }
    rewrite(buf, catalogue)
}

/// Resolves preprocessor lines and conditional groups of a whole file (the
/// first stage of [`normalize`]); chunks of the result go to [`normalize_tokens`].
pub fn blank_preprocessor_text(source: &str) -> String {
    let mut buf = source.as_bytes().to_vec();
    blank_preprocessor(&mut buf);
    String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The token rewrites of [`normalize`], on text whose preprocessor lines were
/// already blanked.
pub fn normalize_tokens(pp_text: &str, catalogue: &Catalogue) -> Normalized {
    rewrite(pp_text.as_bytes().to_vec(), catalogue)
}

fn rewrite(mut buf: Vec<u8>, catalogue: &Catalogue) -> Normalized {
    let toks = tokenize(&buf);
    let mut hints = Vec::new();
    rewrite_tokens(&mut buf, &toks, catalogue, &mut hints);
    // Every rewrite writes ASCII over whole ASCII tokens or blanks whole lines
    // byte by byte, so the buffer stays valid UTF-8; the fallback is defensive.
    let text = String::from_utf8(buf)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Normalized { text, hints }
}

fn blank(buf: &mut [u8], start: usize, end: usize) {
    for b in &mut buf[start..end] {
        if *b != b'\n' {
            *b = b' ';
        }
    }
}

/// Blanks preprocessor directives (with continuation lines) and the dead
/// branches of conditional groups.
fn blank_preprocessor(buf: &mut [u8]) {
    // Stack of conditional groups: `keeping` = this branch's lines are kept,
    // `taken` = a branch of the group has been kept already.
    struct Group {
        keeping: bool,
        taken: bool,
    }
    let mut stack: Vec<Group> = Vec::new();
    let live = |stack: &Vec<Group>| stack.iter().all(|g| g.keeping);
    let mut pos = 0;
    let mut in_block_comment = false;
    while pos < buf.len() {
        let line_end = memchr::memchr(b'\n', &buf[pos..])
            .map(|i| pos + i)
            .unwrap_or(buf.len());
        let line = &buf[pos..line_end];
        let first = line.iter().position(|b| *b != b' ' && *b != b'\t');
        let is_directive = !in_block_comment && first.is_some_and(|i| line[i] == b'#');
        if is_directive {
            // The directive spans continuation lines.
            let mut end = line_end;
            while end > pos && end < buf.len() && buf[end - 1] == b'\\'
                || (end > pos + 1
                    && end < buf.len()
                    && buf[end - 1] == b'\r'
                    && buf[end - 2] == b'\\')
            {
                end = memchr::memchr(b'\n', &buf[end + 1..])
                    .map(|i| end + 1 + i)
                    .unwrap_or(buf.len());
            }
            let start = pos + first.unwrap_or(0) + 1;
            let directive = String::from_utf8_lossy(&buf[start..end]).to_string();
            let directive = directive.trim_start();
            let word: String = directive
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            let rest = directive[word.len()..].trim();
            match word.as_str() {
                "if" | "ifdef" | "ifndef" => {
                    let never = word == "if"
                        && (rest == "0" || rest.starts_with("0 ") || rest.starts_with("0/"));
                    stack.push(Group {
                        keeping: !never,
                        taken: !never,
                    });
                }
                "elif" | "else" | "elifdef" | "elifndef" => {
                    if let Some(g) = stack.last_mut() {
                        let keep = !g.taken;
                        g.keeping = keep;
                        g.taken |= keep;
                    }
                }
                "endif" => {
                    stack.pop();
                }
                _ => {}
            }
            blank(buf, pos, end);
            pos = (end + 1).min(buf.len());
            continue;
        }
        if !live(&stack) {
            blank(buf, pos, line_end);
        } else {
            in_block_comment = track_block_comment(&buf[pos..line_end], in_block_comment);
        }
        pos = line_end + 1;
    }
}

/// Whether a block comment is open at the end of `line`, given it was open at its start.
fn track_block_comment(line: &[u8], mut open: bool) -> bool {
    let mut i = 0;
    let mut in_str: Option<u8> = None;
    while i < line.len() {
        let b = line[i];
        if open {
            if b == b'*' && line.get(i + 1) == Some(&b'/') {
                open = false;
                i += 1;
            }
        } else if let Some(q) = in_str {
            if b == b'\\' {
                i += 1;
            } else if b == q {
                in_str = None;
            }
        } else if b == b'"' || b == b'\'' {
            in_str = Some(b);
        } else if b == b'/' && line.get(i + 1) == Some(&b'*') {
            open = true;
            i += 1;
        } else if b == b'/' && line.get(i + 1) == Some(&b'/') {
            break;
        }
        i += 1;
    }
    open
}

/// Identifiers of a piece of C outside comments, strings and character
/// literals, with their byte offsets.
pub(crate) fn identifiers(text: &str) -> Vec<(usize, &str)> {
    tokenize(text.as_bytes())
        .into_iter()
        .filter(|t| matches!(t.kind, TokKind::Ident))
        .map(|t| (t.start, &text[t.start..t.end]))
        .collect()
}

/// Tokens outside comments, strings and character literals.
fn tokenize(buf: &[u8]) -> Vec<Tok> {
    let mut toks = Vec::with_capacity(buf.len() / 4);
    let mut i = 0;
    let n = buf.len();
    while i < n {
        let b = buf[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0c => i += 1,
            b'/' if i + 1 < n && buf[i + 1] == b'/' => {
                i = memchr::memchr(b'\n', &buf[i..]).map(|k| i + k).unwrap_or(n);
            }
            b'/' if i + 1 < n && buf[i + 1] == b'*' => {
                i = crate::source::COMMENT_END
                    .find(&buf[i + 2..])
                    .map(|k| i + 2 + k + 2)
                    .unwrap_or(n);
            }
            b'"' | b'\'' => {
                let start = i;
                i += 1;
                while i < n && buf[i] != b {
                    if buf[i] == b'\\' {
                        i += 1;
                    } else if buf[i] == b'\n' {
                        break;
                    }
                    i += 1;
                }
                i = (i + 1).min(n);
                toks.push(Tok {
                    kind: TokKind::Other,
                    start,
                    end: i,
                });
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let start = i;
                while i < n && (buf[i].is_ascii_alphanumeric() || buf[i] == b'_') {
                    i += 1;
                }
                toks.push(Tok {
                    kind: TokKind::Ident,
                    start,
                    end: i,
                });
            }
            b'0'..=b'9' => {
                let start = i;
                while i < n && (buf[i].is_ascii_alphanumeric() || buf[i] == b'_' || buf[i] == b'.')
                {
                    i += 1;
                }
                toks.push(Tok {
                    kind: TokKind::Other,
                    start,
                    end: i,
                });
            }
            _ if b.is_ascii_punctuation() => {
                toks.push(Tok {
                    kind: TokKind::Punct(b),
                    start: i,
                    end: i + 1,
                });
                i += 1;
            }
            _ => i += 1,
        }
    }
    toks
}

/// Index of the token closing the parenthesis opened at `open` (a `(` token).
fn matching_paren(toks: &[Tok], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate().skip(open) {
        match t.kind {
            TokKind::Punct(b'(') => depth += 1,
            TokKind::Punct(b')') => {
                depth -= 1;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

/// Top-level argument token ranges `[start, end)` of the call whose `(` is at `open`.
fn split_args(toks: &[Tok], open: usize, close: usize) -> Vec<(usize, usize)> {
    let mut args = Vec::new();
    let mut depth = 0usize;
    let mut start = open + 1;
    for (k, tok) in toks.iter().enumerate().take(close).skip(open + 1) {
        match tok.kind {
            TokKind::Punct(b'(') | TokKind::Punct(b'[') | TokKind::Punct(b'{') => depth += 1,
            TokKind::Punct(b')') | TokKind::Punct(b']') | TokKind::Punct(b'}') => {
                depth = depth.saturating_sub(1)
            }
            TokKind::Punct(b',') if depth == 0 => {
                args.push((start, k));
                start = k + 1;
            }
            _ => {}
        }
    }
    if start < close || !args.is_empty() {
        args.push((start, close));
    }
    args
}

fn tok_text<'a>(buf: &'a [u8], t: &Tok) -> &'a str {
    std::str::from_utf8(&buf[t.start..t.end]).unwrap_or("")
}

const TYPE_KEYWORDS: &[&str] = &[
    "struct", "union", "enum", "unsigned", "signed", "int", "long", "short", "char", "void",
    "const", "volatile", "bool", "_Bool", "float", "double",
];

/// Rewrites a type written as a macro argument (`struct page *`) into one
/// identifier of the same byte length (`struct_page__`).
fn identifierize(buf: &mut [u8], toks: &[Tok], range: (usize, usize)) {
    let (a, b) = range;
    if a >= b {
        return;
    }
    let (start, end) = (toks[a].start, toks[b - 1].end);
    for byte in &mut buf[start..end] {
        if !(byte.is_ascii_alphanumeric() || *byte == b'_') {
            *byte = b'_';
        }
    }
    // A lone keyword (`int`) is not an identifier: make its first byte `_`.
    if TYPE_KEYWORDS.contains(&std::str::from_utf8(&buf[start..end]).unwrap_or("")) {
        buf[start] = b'_';
    }
}

/// Is the argument a bare type (`struct x`, `unsigned long`, `struct x *`)?
fn looks_like_type(buf: &[u8], toks: &[Tok], range: (usize, usize)) -> bool {
    let (a, b) = range;
    if a >= b {
        return false;
    }
    // Only `struct|union|enum NAME` with optional `*`s: anything longer is a
    // parameter declaration (`struct mm_struct *mm`), not a type argument.
    let first = tok_text(buf, &toks[a]);
    if !matches!(first, "struct" | "union" | "enum")
        || b - a < 2
        || toks[a + 1].kind != TokKind::Ident
    {
        return false;
    }
    toks[a + 2..b]
        .iter()
        .all(|t| t.kind == TokKind::Punct(b'*'))
}

fn rewrite_tokens(buf: &mut [u8], toks: &[Tok], cat: &Catalogue, hints: &mut Vec<Hint>) {
    let mut k = 0;
    while k < toks.len() {
        let t = toks[k];
        if t.kind != TokKind::Ident {
            // Generic type arguments: `(struct x, ...)` anywhere in an argument list.
            if matches!(t.kind, TokKind::Punct(b'(')) && k > 0 && toks[k - 1].kind == TokKind::Ident
            {
                if let Some(close) = matching_paren(toks, k) {
                    let callee = tok_text(buf, &toks[k - 1]).to_string();
                    let args = split_args(toks, k, close);
                    let listed = cat.macros.type_args.get(&callee);
                    if args.len() > 1 || listed.is_some() {
                        for (i, arg) in args.iter().enumerate() {
                            let is_listed = listed.is_some_and(|l| l.contains(&i));
                            if is_listed || looks_like_type(buf, toks, *arg) {
                                identifierize(buf, toks, *arg);
                            }
                        }
                    }
                }
            }
            k += 1;
            continue;
        }
        let name = tok_text(buf, &t).to_string();
        let next_is_paren = toks
            .get(k + 1)
            .is_some_and(|n| n.kind == TokKind::Punct(b'('));
        if cat.annotation_set.contains(&name) || (!next_is_paren && cat.is_annotation_prefix(&name))
        {
            blank(buf, t.start, t.end);
            k += 1;
            continue;
        }
        if next_is_paren && cat.annotation_call_set.contains(&name) {
            if let Some(close) = matching_paren(toks, k + 1) {
                let arg = String::from_utf8_lossy(&buf[toks[k + 1].end..toks[close].start])
                    .trim()
                    .to_string();
                hints.push(Hint {
                    offset: t.start,
                    name: name.clone(),
                    argument: arg,
                });
                blank(buf, t.start, toks[close].end);
                k = close + 1;
                continue;
            }
        }
        if next_is_paren && cat.drop_statement_set.contains(&name) {
            if let Some(close) = matching_paren(toks, k + 1) {
                let mut end = toks[close].end;
                let mut next = close + 1;
                if toks
                    .get(close + 1)
                    .is_some_and(|n| n.kind == TokKind::Punct(b';'))
                {
                    end = toks[close + 1].end;
                    next += 1;
                }
                blank(buf, t.start, end);
                k = next;
                continue;
            }
        }
        if next_is_paren
            && (name.starts_with("SYSCALL_DEFINE") || name.starts_with("COMPAT_SYSCALL_DEFINE"))
        {
            if let Some(close) = matching_paren(toks, k + 1) {
                if rewrite_syscall_define(buf, toks, k, close, &name) {
                    // Go on inside the parameter list: it holds annotations too.
                    k += 2;
                    continue;
                }
            }
        }
        if next_is_paren && declaration_position(buf, toks, k) {
            if let Some(arg_index) = cat.declaration_macro_arg(&name) {
                if let Some(close) = matching_paren(toks, k + 1) {
                    let args = split_args(toks, k + 1, close);
                    if let Some(&(a, b)) = args.get(arg_index) {
                        if b == a + 1 && toks[a].kind == TokKind::Ident {
                            // `DEFINE_X(name, ...)` → `DEFINE_X name      `
                            let keep = toks[a];
                            let saved = buf[keep.start..keep.end].to_vec();
                            blank(buf, toks[k + 1].start, toks[close].end);
                            buf[keep.start..keep.end].copy_from_slice(&saved);
                            k = close + 1;
                            continue;
                        }
                    }
                }
            }
        }
        if next_is_paren && in_statement_position(buf, toks, k) {
            let keyword: Option<&[u8]> = if cat.is_loop_macro(&name) {
                Some(b"while")
            } else if cat.block_macro_set.contains(&name) {
                Some(b"if")
            } else {
                None
            };
            if let Some(keyword) = keyword {
                if let Some(close) = matching_paren(toks, k + 1) {
                    let opens_statement = toks.get(close + 1).is_some_and(|n| {
                        !matches!(
                            n.kind,
                            TokKind::Punct(b';') | TokKind::Punct(b',') | TokKind::Punct(b')')
                        )
                    });
                    if opens_statement && keyword.len() <= t.end - t.start {
                        blank(buf, t.start, t.end);
                        buf[t.start..t.start + keyword.len()].copy_from_slice(keyword);
                        k += 1;
                        continue;
                    }
                }
            }
        }
        k += 1;
    }
}

/// Where a declaration may start: file start, after `;`, `{`, `}` or a storage class.
fn declaration_position(buf: &[u8], toks: &[Tok], k: usize) -> bool {
    match k.checked_sub(1).map(|p| toks[p]) {
        None => true,
        Some(p) => match p.kind {
            TokKind::Punct(b';') | TokKind::Punct(b'{') | TokKind::Punct(b'}') => true,
            TokKind::Ident => matches!(tok_text(buf, &p), "static" | "extern" | "const"),
            _ => false,
        },
    }
}

/// Statement position: after `;`, `{`, `}`, `)` (an `if (...)` head), `:` or `else`.
fn in_statement_position(buf: &[u8], toks: &[Tok], k: usize) -> bool {
    match k.checked_sub(1).map(|p| toks[p]) {
        None => false,
        Some(p) => match p.kind {
            TokKind::Punct(b';')
            | TokKind::Punct(b'{')
            | TokKind::Punct(b'}')
            | TokKind::Punct(b')')
            | TokKind::Punct(b':') => true,
            TokKind::Ident => matches!(tok_text(buf, &p), "else" | "do"),
            _ => false,
        },
    }
}

/// `SYSCALL_DEFINE3(mlock2, unsigned long, start, size_t, len, int, flags)`
/// becomes `long sys_mlock2(        unsigned long  start, size_t  len, int  flags)`.
/// The prefix always fits: "SYSCALL_DEFINEn(" is 16 bytes, "long sys_" 9.
fn rewrite_syscall_define(
    buf: &mut [u8],
    toks: &[Tok],
    k: usize,
    close: usize,
    macro_name: &str,
) -> bool {
    let args = split_args(toks, k + 1, close);
    let Some(&(na, nb)) = args.first() else {
        return false;
    };
    if nb != na + 1 || toks[na].kind != TokKind::Ident {
        return false;
    }
    let name = tok_text(buf, &toks[na]).to_string();
    let prefix = if macro_name.starts_with("COMPAT_") {
        "compat_sys_"
    } else {
        "sys_"
    };
    let head = format!("long {prefix}{name}(");
    let region_start = toks[k].start;
    // Everything from the macro name through the comma after the syscall name.
    let region_end = if args.len() > 1 {
        toks[nb].end
    } else {
        toks[close].start
    };
    if head.len() > region_end - region_start {
        return false;
    }
    blank(buf, region_start, region_end);
    buf[region_start..region_start + head.len()].copy_from_slice(head.as_bytes());
    if args.len() == 1 {
        // SYSCALL_DEFINE0(name): `long sys_name(void)`; "void" fits in the blanked ')' region?
        let void_at = region_start + head.len();
        if void_at + 4 <= toks[close].start {
            buf[void_at..void_at + 4].copy_from_slice(b"void");
        }
        return true;
    }
    // Pairs (type, name): the comma between a type and its name becomes a space.
    for (i, &(_, end)) in args.iter().enumerate().skip(1) {
        if i % 2 == 1 && end < close && toks[end].kind == TokKind::Punct(b',') {
            buf[toks[end].start] = b' ';
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalize(s, &Catalogue::builtin()).text
    }

    #[test]
    fn keeps_length_and_newlines() {
        let src = "static int __init foo(void)\n{\n#ifdef CONFIG_X\n\tif (a) {\n#else\n\tif (b) {\n#endif\n\t\tbar();\n\t}\n}\n";
        let out = norm(src);
        assert_eq!(out.len(), src.len());
        assert_eq!(out.matches('\n').count(), src.matches('\n').count());
        assert!(out.contains("if (a) {"));
        assert!(!out.contains("if (b)"));
        assert!(!out.contains("__init"));
    }

    #[test]
    fn syscall_define_becomes_a_function() {
        let out =
            norm("SYSCALL_DEFINE3(mlock2, unsigned long, start, size_t, len, int, flags)\n{\n}\n");
        let compact: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(
            compact,
            "long sys_mlock2( unsigned long start, size_t len, int flags) { }"
        );
        let out = norm("SYSCALL_DEFINE0(munlockall)\n{\n}\n");
        assert!(out.starts_with("long sys_munlockall(void  )"), "{out}");
        let out = norm("COMPAT_SYSCALL_DEFINE2(x, int, a, int, b)\n{}\n");
        assert!(out.starts_with("long compat_sys_x("), "{out}");
    }

    #[test]
    fn loop_macros_become_while_loops() {
        let out = norm("void f(void)\n{\n\tfor_each_vma(vmi, vma) {\n\t\tg(vma);\n\t}\n}\n");
        assert!(out.contains("while       (vmi, vma) {"), "{out}");
        // A call with a semicolon is a call, not a loop.
        let out = norm("void f(void)\n{\n\tx = 1; for_each_thing(a);\n}\n");
        assert!(out.contains("for_each_thing(a);"));
    }

    #[test]
    fn type_arguments_become_identifiers() {
        let out = norm("void f(void)\n{\n\tp = container_of(n, struct page, lru);\n\tx = min_t(unsigned long, a, b);\n}\n");
        assert!(out.contains("container_of(n, struct_page, lru)"), "{out}");
        assert!(out.contains("min_t(unsigned_long, a, b)"), "{out}");
    }

    #[test]
    fn lock_annotations_become_hints() {
        let n = normalize(
            "static void f(struct mm_struct *mm) __must_hold(&mm->mmap_lock)\n{\n}\n",
            &Catalogue::builtin(),
        );
        assert_eq!(n.hints.len(), 1);
        assert_eq!(n.hints[0].name, "__must_hold");
        assert_eq!(n.hints[0].argument, "&mm->mmap_lock");
        assert!(!n.text.contains("__must_hold"));
    }

    #[test]
    fn if_zero_is_dropped_and_comments_are_untouched() {
        let out = norm("#if 0\nbroken(\n#endif\n/* __init in a comment */\nint x;\n");
        assert!(!out.contains("broken"));
        assert!(out.contains("/* __init in a comment */"));
    }
}
