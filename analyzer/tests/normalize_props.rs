//! Property tests for the parser front end: normalization never changes a
//! byte offset or a newline, and nothing panics on arbitrary input.

use mmstall_analyzer::{catalogue::Catalogue, normalize::normalize, parse};
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

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
