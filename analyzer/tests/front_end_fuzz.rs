//! Property tests of the whole front end over generated kernel-style C:
//! normalizer, parser glue, CFG, lock states and summaries. No input may
//! abort the process (panic or stack overflow), normalization keeps every
//! offset, findings point into the file, and a run is deterministic.
//!
//! Cases come from a fixed seed (deterministic); `MMSTALL_FUZZ_CASES` and
//! `MMSTALL_FUZZ_SEED` change how many and which: `scripts/fuzz.sh` runs
//! batches with fresh seeds for a given time.

use mmstall_analyzer::MemoryTree;
use mmstall_analyzer::{catalogue::Catalogue, lint_set, normalize::normalize, LintOptions};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config() -> Config {
    Config {
        cases: env_or("MMSTALL_FUZZ_CASES", 48) as u32,
        rng_seed: RngSeed::Fixed(env_or("MMSTALL_FUZZ_SEED", 0x6d6d_7374)),
        failure_persistence: None,
        ..Config::default()
    }
}

/// A small deterministic generator (xorshift), driven by the case's seed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const CALLS: &[&str] = &[
    "mmap_write_lock(mm)",
    "mmap_write_unlock(mm)",
    "mmap_read_lock(mm)",
    "mmap_read_unlock(mm)",
    "mmap_write_downgrade(mm)",
    "mmap_write_lock_killable(mm)",
    "mmap_read_trylock(mm)",
    "down_write(&mm->mmap_sem)",
    "up_write(&mm->mmap_sem)",
    "zap_page_range_single(vma, start, len, NULL)",
    "__mm_populate(start, len, 0)",
    "walk_page_range(mm, start, end, &ops, NULL)",
    "folio_lock(folio)",
    "lock_page(page)",
    "handle_mm_fault(vma, addr, flags, NULL)",
    "mmap_assert_write_locked(mm)",
    "fn0(mm, x)",
    "fn1(mm, 0)",
    "fn2(mm, MIGRATE_ASYNC)",
    "fn3(mm, x + 1)",
    "likely(x)",
    "container_of(p, struct page, lru)",
    "min_t(unsigned long, a, b)",
];

const CONDS: &[&str] = &[
    "x",
    "!x",
    "err",
    "x == 0",
    "mode == MIGRATE_ASYNC",
    "x && y",
    "x || !y",
    "(err = fn0(mm, x))",
    "mmap_write_lock_killable(mm)",
    "!mmap_read_trylock(mm)",
    "unlikely(x > 3)",
    "vms->unlock",
    "({ int t = x; t; })",
];

fn expr(g: &mut Gen, depth: usize) -> String {
    if depth == 0 || g.below(3) == 0 {
        return g
            .pick(&[
                "x",
                "y",
                "0",
                "1",
                "-EINTR",
                "NULL",
                "vma->vm_start",
                "fn1(mm, 0)",
            ])
            .to_string();
    }
    match g.below(5) {
        0 => format!("{} + {}", expr(g, depth - 1), expr(g, depth - 1)),
        1 => format!("({})", expr(g, depth - 1)),
        2 => format!(
            "{} ? {} : {}",
            g.pick(CONDS),
            expr(g, depth - 1),
            expr(g, depth - 1)
        ),
        3 => format!("fn0(mm, {})", expr(g, depth - 1)),
        _ => format!("!{}", expr(g, depth - 1)),
    }
}

fn statement(g: &mut Gen, out: &mut String, depth: usize) {
    let pad = "\t".repeat(1 + (depth % 6));
    let kind = if depth == 0 { g.below(4) } else { g.below(14) };
    match kind {
        0 | 1 => out.push_str(&format!("{pad}{};\n", g.pick(CALLS))),
        2 => out.push_str(&format!("{pad}x = {};\n", expr(g, 3))),
        3 => out.push_str(&format!(
            "{pad}{}\n",
            g.pick(&[
                "return 0;",
                "return err;",
                "break;",
                "continue;",
                "goto out;",
                "vms->unlock = 1;"
            ])
        )),
        4 | 5 => {
            out.push_str(&format!("{pad}if ({}) {{\n", g.pick(CONDS)));
            block(g, out, depth - 1);
            if g.below(2) == 0 {
                out.push_str(&format!("{pad}}} else {{\n"));
                block(g, out, depth - 1);
            }
            out.push_str(&format!("{pad}}}\n"));
        }
        6 => {
            out.push_str(&format!("{pad}while ({}) {{\n", g.pick(CONDS)));
            block(g, out, depth - 1);
            out.push_str(&format!("{pad}}}\n"));
        }
        7 => {
            out.push_str(&format!("{pad}for (i = 0; i < n; i++)\n"));
            statement(g, out, depth - 1);
        }
        8 => {
            out.push_str(&format!("{pad}for_each_vma(vmi, vma) {{\n"));
            block(g, out, depth - 1);
            out.push_str(&format!("{pad}}}\n"));
        }
        9 => {
            out.push_str(&format!(
                "{pad}switch (mode) {{\n{pad}case MIGRATE_ASYNC:\n"
            ));
            block(g, out, depth - 1);
            out.push_str(&format!("{pad}\tbreak;\n{pad}default:\n"));
            block(g, out, depth - 1);
            out.push_str(&format!("{pad}}}\n"));
        }
        10 => {
            out.push_str(&format!("{pad}do {{\n"));
            block(g, out, depth - 1);
            out.push_str(&format!("{pad}}} while ({});\n", g.pick(CONDS)));
        }
        11 => out.push_str(&format!("out:\n{pad}{};\n", g.pick(CALLS))),
        12 => {
            out.push_str(&format!(
                "#ifdef CONFIG_X\n{pad}{};\n#else\n",
                g.pick(CALLS)
            ));
            out.push_str(&format!("{pad}{};\n#endif\n", g.pick(CALLS)));
        }
        _ => {
            out.push_str(&format!("{pad}scoped_guard(rcu) {{\n"));
            block(g, out, depth - 1);
            out.push_str(&format!("{pad}}}\n"));
        }
    }
}

fn block(g: &mut Gen, out: &mut String, depth: usize) {
    for _ in 0..1 + g.below(4) {
        statement(g, out, depth);
    }
}

/// A file of a few functions calling each other (and themselves), some
/// very deeply nested, then optionally damaged (a slice cut or repeated).
fn c_file(seed: u64, depth: usize, damage: bool) -> String {
    let mut g = Gen(seed | 1);
    let mut out = String::from("// SPDX-License-Identifier: GPL-2.0\n#include \"fixture.h\"\n\n");
    for k in 0..4 {
        let name = g.pick(&["fn0", "fn1", "fn2", "fn3"]);
        let prefix = g.pick(&[
            "static int ",
            "int ",
            "static noinline int ",
            "SYSCALL_DEFINE2(x",
        ]);
        if prefix.starts_with("SYSCALL") {
            out.push_str(&format!(
                "SYSCALL_DEFINE2(sc{k}, unsigned long, start, size_t, len)\n{{\n"
            ));
        } else {
            out.push_str(&format!(
                "{prefix}{name}(struct mm_struct *mm, int mode) __must_hold(&mm->mmap_lock)\n{{\n\tint x, y, err, i, n;\n"
            ));
        }
        if g.below(12) == 0 {
            // Deep nesting: over the analyzer's limit now and then.
            let levels = 200 + g.below(900);
            out.push_str(&"\tif (x) {\n".repeat(levels));
            out.push_str(&format!("\t{};\n", g.pick(CALLS)));
            out.push_str(&"\t}\n".repeat(levels));
        }
        block(&mut g, &mut out, depth);
        out.push_str("\treturn 0;\n}\n\n");
    }
    if damage && !out.is_empty() {
        let bytes = out.as_bytes();
        let a = g.below(bytes.len());
        let b = (a + g.below(200)).min(bytes.len());
        let mut damaged = bytes[..a].to_vec();
        if g.below(2) == 0 {
            damaged.extend_from_slice(&bytes[a..b]);
            damaged.extend_from_slice(&bytes[a..]);
        } else {
            damaged.extend_from_slice(&bytes[b..]);
        }
        out = String::from_utf8_lossy(&damaged).into_owned();
    }
    out
}

fn fingerprints(tree: &MemoryTree) -> Vec<String> {
    let run = lint_set(tree, &Catalogue::builtin(), &LintOptions::default());
    let lines: std::collections::HashMap<&String, usize> = tree
        .files
        .iter()
        .map(|(k, v)| (k, v.iter().filter(|b| **b == b'\n').count() + 1))
        .collect();
    for f in &run.report.findings {
        let count = lines.get(&f.file).copied().unwrap_or(0);
        assert!(f.line as usize >= 1 && f.line as usize <= count, "{f:?}");
    }
    run.report
        .findings
        .iter()
        .map(|f| f.fingerprint.clone())
        .collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn generated_c_never_aborts_the_front_end(
        seeds in prop::collection::vec(any::<u64>(), 1..4),
        depth in 1usize..7,
        damage in any::<bool>(),
    ) {
        let mut tree = MemoryTree::default();
        for (k, seed) in seeds.iter().enumerate() {
            let text = c_file(*seed, depth, damage && k == 0);
            let normalized = normalize(&text, &Catalogue::builtin()).text;
            prop_assert_eq!(normalized.len(), text.len());
            tree.files.insert(format!("mm/f{k}.c"), text.into_bytes());
        }
        let first = fingerprints(&tree);
        let second = fingerprints(&tree);
        prop_assert_eq!(first, second);
    }
}
