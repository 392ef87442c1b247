//! Fuzz-style properties: no input, however broken, makes the parser or the
//! appliers panic. Seeded, so every run tries the same cases.

mod common;

use std::path::Path;

use common::{base_dir, base_repo, fixture};
use mmstall_series::{apply_series_to_dir, apply_series_to_tree, parse_series, ApplyOptions};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

const FIXTURES: &[&str] = &[
    "format-patch.mbox",
    "b4.mbox",
    "single.patch",
    "bare.diff",
    "binary.patch",
    "keep-going.mbox",
    "malformed/truncated.mbox",
];

/// Lines that steer the parser into its less common paths.
const TRICKY_LINES: &[&str] = &[
    "diff --git a/mm/stall.c b/mm/stall.c",
    "diff --git \"a/q\\\"x\" b/y",
    "diff --git",
    "--- a/mm/stall.c",
    "+++ b/mm/stall.c",
    "--- /dev/null",
    "+++ /dev/null",
    "@@ -1 +1 @@",
    "@@ -0,0 +1,3 @@",
    "@@ -18446744073709551615,2 +1,18446744073709551615 @@",
    "@@ -3,1 +0,0 @@ x",
    "\\ No newline at end of file",
    "new file mode 120000",
    "deleted file mode 100644",
    "old mode 160000",
    "new mode 100755",
    "rename from ../../etc/passwd",
    "rename to mm/stall.c",
    "copy from mm/Makefile",
    "copy to mm/Makefile.copy",
    "similarity index 300%",
    "index 0000000..1111111 100755",
    "GIT binary patch",
    "Binary files a/x and b/x differ",
    "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001",
    "From: =?UTF-8?q?=C3=28?= <x@example.org>",
    "Subject: [PATCH 0/0]",
    "Subject: [PATCH 9/2] =?utf-8?b?!!!?=",
    "Content-Transfer-Encoding: base64",
    "Content-Transfer-Encoding: quoted-printable",
    "Content-Type: multipart/mixed; boundary=x",
    ">>From nowhere",
    "---",
    "-- ",
    "",
    " ",
    "+",
    "-",
];

thread_local! {
    static BASE_REPO: (tempfile::TempDir, git2::Repository, git2::Oid) = base_repo();
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    InsertTricky(usize, usize),
    Truncate(usize),
    SetByte(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), 0..TRICKY_LINES.len())
            .prop_map(|(at, which)| Mutation::InsertTricky(at, which)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::SetByte(at, byte)),
    ]
}

fn mutate(input: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = input.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    let mut truncate_at = None;
    for mutation in mutations {
        let count = lines.len().max(1);
        match *mutation {
            Mutation::DeleteLine(at) if !lines.is_empty() => {
                lines.remove(at % count);
            }
            Mutation::DuplicateLine(at) if !lines.is_empty() => {
                let line = lines[at % count].clone();
                lines.insert(at % count, line);
            }
            Mutation::InsertTricky(at, which) => {
                lines.insert(
                    at % (lines.len() + 1),
                    TRICKY_LINES[which].as_bytes().to_vec(),
                );
            }
            Mutation::SetByte(at, byte) if !lines.is_empty() => {
                let line = &mut lines[at % count];
                if line.is_empty() {
                    line.push(byte);
                } else {
                    let index = at % line.len();
                    line[index] = byte;
                }
            }
            Mutation::Truncate(at) => truncate_at = Some(at),
            _ => {}
        }
    }
    let mut joined = lines.join(&b'\n');
    if let Some(at) = truncate_at {
        joined.truncate(at % (joined.len() + 1));
    }
    joined
}

/// 300 cases by default; `MMSTALL_FUZZ_CASES=100000` for a longer hunt.
/// Header text made of the pieces MIME words and subject prefixes are made
/// of, mixed with arbitrary characters.
fn header_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("=?".to_string()),
        Just("?=".to_string()),
        Just("?q?".to_string()),
        Just("?B?".to_string()),
        Just("utf-8".to_string()),
        Just("iso-8859-1".to_string()),
        Just("=C3".to_string()),
        Just("[PATCH".to_string()),
        Just("]".to_string()),
        Just("Re:".to_string()),
        Just(" ".to_string()),
        Just("0/".to_string()),
        any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

fn config() -> Config {
    let cases = std::env::var("MMSTALL_FUZZ_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(300);
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x006d_6d73_7461_6c6c),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_series(&input, Path::new("random.mbox"));
    }

    #[test]
    fn random_lines_never_panic(lines in proptest::collection::vec(0..TRICKY_LINES.len(), 0..40)) {
        let text: Vec<&str> = lines.iter().map(|&i| TRICKY_LINES[i]).collect();
        let _ = parse_series(text.join("\n").as_bytes(), Path::new("tricky.mbox"));
    }

    #[test]
    fn random_headers_never_panic(
        subject in header_text(),
        from in header_text(),
        body_line in header_text(),
    ) {
        let mail = format!(
            "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nFrom: {from}\nSubject: {subject}\n\n{body_line}\n---\ndiff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
        );
        let _ = parse_series(mail.as_bytes(), Path::new("headers.mbox"));
    }

    #[test]
    fn mutated_fixtures_never_panic_when_parsed_or_applied(
        which in 0..FIXTURES.len(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let original = std::fs::read(fixture(FIXTURES[which])).expect("fixture");
        let input = mutate(&original, &mutations);
        if let Ok(series) = parse_series(&input, Path::new("mutated.mbox")) {
            let _ = series.hash();
            let dir = base_dir();
            let _ = apply_series_to_dir(&series, dir.path(), ApplyOptions { keep_going: true });
            // One repository for all cases: applying only adds objects.
            BASE_REPO.with(|(_temp, repo, base)| {
                let _ = apply_series_to_tree(repo, *base, &series, ApplyOptions { keep_going: true });
            });
        }
    }
}
