//! The lexical scanner: what a file's text yields without parsing (chunks,
//! the names each defines and calls, designated initializers, whether it
//! names the lock). Cheap enough for every file of a whole tree; the run
//! selects from it what to parse.

use std::collections::BTreeSet;

use crate::source::{self, Chunk, Prefilter};

/// Chunks longer than this are no predicate candidates (`returns_value`):
/// the selection asks for helpers of at most 40 lines, rarely 3 KiB.
const MAX_PREDICATE_CHUNK_BYTES: usize = 3072;

/// What a file's text yields lexically: its chunks, what each defines and
/// calls, and the prefilter's verdict per chunk. A function of the content
/// (and the catalogue), so shared between runs through a [`ScanCache`].
pub(super) struct Scan {
    pub(super) chunks: Vec<Chunk>,
    /// Per chunk, the names it defines (shared with the run's name index).
    pub(super) defs: Vec<Vec<Name>>,
    pub(super) calls: Vec<Vec<String>>,
    /// Names passed whole as call arguments (callbacks handed to a walker;
    /// variables too, lexically), for the chunks that pass any: sparse, by
    /// chunk index (a whole tree has a million chunks).
    passed: Vec<(usize, Vec<String>)>,
    /// Function-pointer parameters (`int (*visit)(..)`) of the chunks that
    /// declare any, by chunk index.
    fn_params: Vec<(usize, Vec<String>)>,
    /// The chunk assigns through a pointer (`p->field = ...`).
    pub(super) stores_fields: Vec<bool>,
    pub(super) has_loop: Vec<bool>,
    /// The chunk has a `switch` (a predicate a caller may branch on); a scan
    /// fact, so a cached scan selects what a fresh one does.
    pub(super) has_switch: Vec<bool>,
    /// The chunk returns a value (`return x;`): with no loop, a predicate
    /// candidate (`return sc->target_mem_cgroup;`).
    pub(super) returns_value: Vec<bool>,
    /// The chunk tests a flag the catalogue assumes clear (`[assume_clear]`):
    /// what it returns may be decided by that alone (a predicate candidate
    /// even with loops and calls: 5.4 `detach_vmas_to_be_unmapped()`).
    pub(super) tests_assumed_clear: Vec<bool>,
    pub(super) line_starts: Vec<u32>,
    /// Scanned for definitions only: what its chunks call is unknown.
    pub(super) calls_unknown: bool,
    /// `(field, function)` of designated initializers (`.fault = f`, `.rmap_one = f`).
    pub(super) designated: Vec<(String, String)>,
    /// The chunk names the lock (all false unless the file does).
    pub(super) chunk_names_lock: Vec<bool>,
}

impl Scan {
    /// Scans a file's chunks. `scan_calls` = false indexes definitions only
    /// (the cheap mode for files outside the prefilter in a whole tree).
    pub(super) fn new(
        text: &str,
        fields: &[String],
        assumed_clear: &[String],
        scan_calls: bool,
        prefilter: Option<&Prefilter>,
    ) -> Scan {
        let designated = source::designated_functions(text, fields);
        let chunks = source::split_chunks(text);
        let per_chunk = |f: &dyn Fn(&str) -> bool| -> Vec<bool> {
            chunks
                .iter()
                .map(|c| scan_calls && f(&text[c.start..c.end]))
                .collect()
        };
        let defs = chunks
            .iter()
            .map(|c| {
                defined_names(&text[c.start..c.end])
                    .into_iter()
                    .map(Name::from)
                    .collect()
            })
            .collect();
        let calls = chunks
            .iter()
            .map(|c| {
                if scan_calls {
                    source::called_names(&text[c.start..c.end])
                } else {
                    Vec::new()
                }
            })
            .collect();
        let sparse = |f: &dyn Fn(&str) -> Vec<String>| -> Vec<(usize, Vec<String>)> {
            if !scan_calls {
                return Vec::new();
            }
            chunks
                .iter()
                .enumerate()
                .map(|(k, c)| (k, f(&text[c.start..c.end])))
                .filter(|(_, names)| !names.is_empty())
                .collect()
        };
        let passed = sparse(&source::passed_names);
        let fn_params = sparse(&source::fn_param_names);
        let stores_fields = per_chunk(&source::stores_through_pointer);
        // memchr's SIMD finders, made once: `str::contains` was a tenth of
        // the scan.
        static LOOPS: std::sync::LazyLock<Vec<memchr::memmem::Finder<'static>>> =
            std::sync::LazyLock::new(|| {
                ["for (", "while (", "for_each", "foreach", "do {"]
                    .iter()
                    .map(|k| memchr::memmem::Finder::new(k.as_bytes()))
                    .collect()
            });
        static SWITCH: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new("switch"));
        static RETURN: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new("return"));
        // The flags' finders once per file, not per chunk (`find_iter`
        // builds a searcher each call).
        let flag_finders: Vec<(&str, memchr::memmem::Finder)> = if scan_calls {
            assumed_clear
                .iter()
                .map(|flag| (flag.as_str(), memchr::memmem::Finder::new(flag.as_bytes())))
                .collect()
        } else {
            Vec::new()
        };
        let has_loop = per_chunk(&|t: &str| LOOPS.iter().any(|k| k.find(t.as_bytes()).is_some()));
        let has_switch = per_chunk(&|t: &str| SWITCH.find(t.as_bytes()).is_some());
        let returns_value = per_chunk(&|t: &str| {
            // Only short helpers are predicate candidates (selection asks
            // for at most SHORT_CHUNK_LINES lines): long chunks, which hold
            // most of a tree's bytes, are not searched.
            t.len() <= MAX_PREDICATE_CHUNK_BYTES
                && RETURN.find_iter(t.as_bytes()).any(|i| {
                    let rest = t[i + "return".len()..].trim_start();
                    t[i + "return".len()..].starts_with([' ', '\t', '(', '!'])
                        && !rest.starts_with(';')
                })
        });
        let tests_assumed_clear = per_chunk(&|t: &str| {
            !flag_finders.is_empty()
                && flag_finders.iter().any(|(flag, finder)| {
                    finder.find_iter(t.as_bytes()).any(|i| {
                        let after = t[i + flag.len()..].chars().next();
                        !after.is_some_and(crate::catalogue::is_ident_char)
                            && t[..i].trim_end_matches([' ', '(', '|']).ends_with('&')
                    })
                })
        });
        let chunk_names_lock = match prefilter {
            Some(p) => chunks
                .iter()
                .map(|c| p.matches(&text.as_bytes()[c.start..c.end]))
                .collect(),
            None => vec![false; chunks.len()],
        };
        let mut line = 0u32;
        let mut pos = 0usize;
        let line_starts = chunks
            .iter()
            .map(|c| {
                line += memchr::memchr_iter(b'\n', &text.as_bytes()[pos..c.start]).count() as u32;
                pos = c.start;
                line
            })
            .collect();
        Scan {
            chunks,
            defs,
            calls,
            passed,
            fn_params,
            stores_fields,
            has_loop,
            has_switch,
            returns_value,
            tests_assumed_clear,
            line_starts,
            calls_unknown: !scan_calls,
            designated,
            chunk_names_lock,
        }
    }
}

impl Scan {
    /// Names chunk `k` passes whole as call arguments.
    pub(super) fn passed(&self, k: usize) -> &[String] {
        sparse_get(&self.passed, k)
    }

    /// Chunks that declare function-pointer parameters, with them.
    pub(super) fn chunks_with_fn_params(&self) -> &[(usize, Vec<String>)] {
        &self.fn_params
    }
}

fn sparse_get(entries: &[(usize, Vec<String>)], k: usize) -> &[String] {
    entries
        .binary_search_by_key(&k, |(i, _)| *i)
        .map(|i| entries[i].1.as_slice())
        .unwrap_or(&[])
}

/// A function name as the lexical index knows it (shared, cheap to clone).
pub(super) type Name = std::sync::Arc<str>;

/// Names of functions a file defines, read lexically: a line starting at
/// column 0 with an identifier, whose first `(` follows a name, and that is
/// not a prototype. Cheap enough for every file of a whole tree.
///
/// Not definitions either, though they look alike at the margin: a
/// declaration with a comment after its `;` (`static DEFINE_MUTEX(m);\t/*
/// ... */`), a line of a macro body, the last one included, which has no
/// `\` (`EXPORT_SYMBOL(__asan_report_load##size##_noabort)`), an
/// initializer (`static bool zswap_enabled = IS_ENABLED(`). Each made a
/// macro "defined" in one chunk that every use of the macro "called"
/// (`EXPORT_SYMBOL(f);` after each exported function), and the selection
/// parsed what that chunk reaches for every such caller.
pub fn defined_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_macro = false;
    for line in lines(text) {
        let continued = std::mem::replace(&mut in_macro, line.trim_end().ends_with('\\'));
        if continued || in_macro {
            continue;
        }
        if let Some(name) = definition_name(line) {
            names.insert(name.to_string());
        }
    }
    names
}

/// `text.lines()`, split by memchr's SIMD search (std's `lines` was a
/// fifth of a whole tree's definition scan): lines end at `\n`, a `\r`
/// before it dropped.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', text.as_bytes())
        .chain((!text.is_empty() && !text.ends_with('\n')).then_some(text.len()))
        .map(move |end| {
            let line = &text[start..end];
            start = end + 1;
            match text.as_bytes().get(end) {
                Some(b'\n') => line.strip_suffix('\r').unwrap_or(line),
                _ => line,
            }
        })
}

/// Whether a block comment is open at the end of `line` (`open`: at its
/// start). Literals are not read: a `/*` in a string can only make
/// [`prelude_len`] cut less.
fn comment_open_after(line: &str, mut open: bool) -> bool {
    let b = line.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        match (open, b[i], b[i + 1]) {
            (false, b'/', b'/') => return false,
            (false, b'/', b'*') | (true, b'*', b'/') => {
                open = !open;
                i += 2;
            }
            _ => i += 1,
        }
    }
    open
}

/// The name a line at the margin defines ([`defined_names`]), if it looks
/// like the first line of a definition.
fn definition_name(line: &str) -> Option<&str> {
    let first = line.bytes().next()?;
    if !(first.is_ascii_alphabetic() || first == b'_')
        || memchr::memchr(b'(', line.as_bytes()).is_none()
    {
        return None;
    }
    // The first `/*` or `//`, byte by byte (`str::find` builds a two-way
    // searcher per call: a tenth of a whole tree's definition scan).
    let b = line.as_bytes();
    let comment = memchr::memchr_iter(b'/', b).find(|&i| matches!(b.get(i + 1), Some(b'*' | b'/')));
    let code = comment.map_or(line, |at| &line[..at]).trim_end();
    if code.ends_with(';') {
        return None;
    }
    let paren = code.find('(')?;
    let head = code[..paren].trim_end();
    if head.contains('=') {
        return None;
    }
    // Identifier bytes are ASCII: never inside a multi-byte character.
    let name = &head[head.len()
        - head
            .bytes()
            .rev()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count()..];
    (!name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit())).then_some(name)
}

/// The declarations and comments a chunk opens with, before its first
/// definition (the text after the previous function's `}`: prototypes,
/// struct and table definitions, comments), as (bytes, lines): its parse
/// starts after them. The definition keeps the lines of its head above the
/// name's (return type, attributes: `static unsigned long\n__foo(...)`),
/// up to a blank line, a comment's end or a line ending a declaration.
/// None of it is part of a function, and tree-sitter spent a sixth of its
/// time there. `text` has its preprocessor lines blanked.
pub(super) fn prelude_len(text: &str) -> (usize, u32) {
    let mut starts: Vec<usize> = Vec::new();
    let mut at = 0;
    let mut in_comment = false;
    for line in text.split_inclusive('\n') {
        let starts_in_comment = in_comment;
        in_comment = comment_open_after(line, in_comment);
        if definition_name(line).is_some() {
            // A comment's line that looks like one (`foo(x) returns ...`
            // at the margin of a comment without `*`s): nothing is cut.
            if starts_in_comment {
                return (0, 0);
            }
            let mut first = starts.len();
            while first > 0 {
                let above = text[starts[first - 1]..]
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim();
                if above.is_empty()
                    || above.ends_with([';', '}', '{'])
                    || above.ends_with("*/")
                    || above.starts_with(['*', '/', '#'])
                {
                    break;
                }
                first -= 1;
            }
            let bytes = starts.get(first).copied().unwrap_or(at);
            return (bytes, first as u32);
        }
        starts.push(at);
        at += line.len();
    }
    (0, 0)
}

#[cfg(test)]
mod tests {
    use super::defined_names;

    fn names(text: &str) -> Vec<String> {
        defined_names(text).into_iter().collect()
    }

    #[test]
    fn lines_split_as_std_does() {
        for text in [
            "",
            "\n",
            "a",
            "a\n",
            "a\r\nb",
            "a\n\nb\r\n",
            "\r\n\r",
            "x\ry\n",
        ] {
            assert_eq!(
                super::lines(text).collect::<Vec<_>>(),
                text.lines().collect::<Vec<_>>(),
                "{text:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn lines_split_as_std_does_on_any_text(text in "([a-z]{0,3}|\r|\n|\r\n|\u{e9}){0,20}") {
            proptest::prop_assert_eq!(
                super::lines(&text).collect::<Vec<_>>(),
                text.lines().collect::<Vec<_>>()
            );
        }

        /// The byte search for a comment's start finds what `str::find` did.
        #[test]
        fn definition_names_as_with_str_find(line in "[a-z_]{1,4}([a-z_ (=;*/]|\u{e9}){0,24}") {
            let code = line.find("/*").into_iter().chain(line.find("//")).min()
                .map_or(line.as_str(), |at| &line[..at]).trim_end();
            let expected = (!code.ends_with(';')).then(|| code.find('(')).flatten()
                .map(|p| code[..p].trim_end())
                .filter(|head| !head.contains('='))
                .map(|head| &head[head.len() - head.bytes().rev()
                    .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count()..])
                .filter(|n| !n.is_empty() && !n.starts_with(|c: char| c.is_ascii_digit()));
            proptest::prop_assert_eq!(super::definition_name(&line), expected);
        }
    }

    #[test]
    fn definitions_at_the_margin_are_found() {
        let text =
            "static int walk_one(struct vm_area_struct *vma,\n\t\tunsigned long addr)\n{\n}\n\
                    SYSCALL_DEFINE2(demo, int, a, int, b)\n{\n}\n";
        assert_eq!(names(text), ["SYSCALL_DEFINE2", "walk_one"]);
    }

    #[test]
    fn declarations_macro_bodies_and_initializers_are_not_definitions() {
        let text = "static DEFINE_MUTEX(demo_mutex);\t/* guards the demo list */\n\
                    int demo_count(void); // a prototype\n\
                    #define DEFINE_DEMO_REPORT(size)\t\\\n\
                    void demo_report##size(void *addr)\t\\\n\
                    {\t\\\n\
                    \tdemo_report(addr, size);\t\\\n\
                    }\t\\\n\
                    EXPORT_SYMBOL(demo_report##size)\n\
                    \n\
                    static bool demo_enabled = IS_ENABLED(\n\
                    \tCONFIG_DEMO_DEFAULT_ON);\n\
                    void demo_report_n(void *addr, long size)\n\
                    {\n\
                    }\n";
        assert_eq!(names(text), ["demo_report_n"]);
    }

    #[test]
    fn a_parse_starts_at_the_head_of_the_first_definition() {
        let prelude = "}\n\nstatic DEFINE_MUTEX(demo_mutex);\n/* the demo table */\n\
                       static const int demo_table[] = {\n\t1, 2,\n};\n\n";
        let head =
            "static unsigned long __init\ndemo_walk(struct mm_struct *mm)\n{\n\treturn 0;\n}\n";
        let text = format!("{prelude}{head}");
        assert_eq!(
            super::prelude_len(&text),
            (prelude.len(), prelude.matches('\n').count() as u32)
        );
        // No definition: the whole chunk is parsed.
        assert_eq!(super::prelude_len("int demo_count;\n/* end */\n"), (0, 0));
        // A comment's line that looks like a definition: nothing is cut.
        let commented = "/*\ndemo_walk(mm) walks it.\n*/\nint demo_walk(void *mm)\n{\n}\n";
        assert_eq!(super::prelude_len(commented), (0, 0));
        let closed = "/* demo */ int demo_count;\nint demo_walk(void *mm)\n{\n}\n";
        assert_eq!(super::prelude_len(closed), (27, 1));
    }

    #[test]
    fn text_before_the_name_may_be_any_utf8() {
        let text = "MODULE_AUTHOR(\"Jos\u{e9} S\u{e1}nchez\")\n\
                    Author: Jos\u{e9} Luis S\u{e1}nchez(\n\
                    int \u{e1}demo(void)\n{\n}\n";
        assert_eq!(names(text), ["MODULE_AUTHOR", "demo", "nchez"]);
    }
}
