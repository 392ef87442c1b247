//! Property tests for the parser front end: normalization never changes a
//! byte offset or a newline, and nothing panics on arbitrary input.

use mmstall_analyzer::{catalogue::Catalogue, normalize::normalize, parse, source};
use proptest::prelude::*;

fn kernelish() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "static ",
        "int ",
        "__init ",
        "void ",
        "foo",
        "(",
        ")",
        "{",
        "}",
        ";",
        ",",
        "\n",
        "#ifdef X\n",
        "#else\n",
        "#endif\n",
        "#if 0\n",
        "for_each_vma(vmi, vma) ",
        "container_of(p, struct page, lru)",
        "min_t(unsigned long, a, b)",
        "SYSCALL_DEFINE2(x, int, a, long, b)",
        "SYSCALL_DEFINE0(y)",
        "__must_hold(&mm->mmap_lock) ",
        "/* c */",
        "// c\n",
        "\"s(\"",
        "'('",
        "mmap_write_lock(mm);",
        "if (x) ",
        "else ",
        "goto out;",
        "out:",
        "DEFINE_MUTEX(m);",
        "é",
        "\\\n",
        "scoped_guard(rcu) ",
        "return ",
        "x = 1;",
        "*",
        "&",
    ]);
    prop::collection::vec(pieces, 0..60).prop_map(|v| v.concat())
}

/// The names `source::passed_names` must find, read the slow way: every
/// identifier, with what stands before and after it.
fn passed_names_reference(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let blank = |c: u8| matches!(c, b' ' | b'\t' | b'\n');
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !(b[i].is_ascii_alphabetic() || b[i] == b'_') || (i > 0 && ident(b[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && ident(b[i]) {
            i += 1;
        }
        let mut before = start;
        while before > 0 && blank(b[before - 1]) {
            before -= 1;
        }
        let mut after = i;
        while after < b.len() && blank(b[after]) {
            after += 1;
        }
        let opens = before > 0 && matches!(b[before - 1], b',' | b'(');
        let closes = matches!(b.get(after), Some(b',' | b')'));
        let name = &text[start..i];
        let keyword = source::NOT_CALLS.contains(&name);
        if opens && closes && !keyword && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    out
}

#[test]
fn passed_names_reads_arguments_passed_whole() {
    let text = "walk(mm, start,\n\tvisit_one );\nf(a->b, (x), y + 1, g(z), 0x10, _cb)";
    assert_eq!(
        source::passed_names(text),
        ["mm", "start", "visit_one", "x", "z", "_cb"]
    );
    assert_eq!(source::passed_names(text), passed_names_reference(text));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn passed_names_matches_the_reference(src in kernelish()) {
        prop_assert_eq!(source::passed_names(&src), passed_names_reference(&src));
    }

    #[test]
    fn normalization_preserves_offsets(src in kernelish()) {
        let out = normalize(&src, &Catalogue::builtin()).text;
        prop_assert_eq!(out.len(), src.len());
        let nl_in: Vec<usize> = src.match_indices('\n').map(|(i, _)| i).collect();
        let nl_out: Vec<usize> = out.match_indices('\n').map(|(i, _)| i).collect();
        prop_assert_eq!(nl_in, nl_out);
    }

    #[test]
    fn parsing_never_panics(src in kernelish()) {
        let mut parser = parse::new_parser().unwrap();
        let _ = parse::parse_file(&mut parser, &src, 0, &Catalogue::builtin());
    }

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
        let out = normalize(&src, &Catalogue::builtin()).text;
        prop_assert_eq!(out.len(), src.len());
        let mut parser = parse::new_parser().unwrap();
        let _ = parse::parse_file(&mut parser, &src, 0, &Catalogue::builtin());
    }
}
