//! Differential test: random edits of a random file, made into a patch by
//! `git diff`, applied onto a drifted copy of the file by `git apply` and by
//! this crate; both must agree on success and on the result. Seeded, so the
//! same cases run every time. Skipped (with a note) when `git` is missing.

use std::fs;
use std::path::Path;
use std::process::Command;

use mmstall_series::{apply_to_dir, parse_series};

/// xorshift64*: enough randomness for test cases, no dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Few distinct lines, so that hunks find false matches and must pick the
/// nearest one.
const VOCABULARY: &[&str] = &[
    "\tmmap_read_lock(mm);",
    "\tmmap_read_unlock(mm);",
    "\treturn 0;",
    "}",
    "{",
    "",
    "\tint ret;",
    "static int demo(void)",
];

fn random_file(random: &mut Random) -> Vec<String> {
    let length = random.below(40);
    (0..length)
        .map(|index| {
            if random.chance(50) {
                VOCABULARY[random.below(VOCABULARY.len())].to_string()
            } else {
                format!("line {index} {}", random.below(4))
            }
        })
        .collect()
}

fn render(lines: &[String], final_newline: bool) -> String {
    let mut text = lines.join("\n");
    if final_newline && !lines.is_empty() {
        text.push('\n');
    }
    text
}

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        // Whatever the machine's git config says, the patches must be
        // plain: a/ b/ prefixes, no colour, no external diff driver.
        .args([
            "-c",
            "core.autocrlf=false",
            "-c",
            "apply.whitespace=nowarn",
            "-c",
            "diff.noprefix=false",
            "-c",
            "diff.mnemonicPrefix=false",
            "-c",
            "color.ui=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git")
}

#[test]
fn applies_like_git_apply() {
    if Command::new("git").arg("--version").output().is_err() {
        eprintln!("git not installed: differential test skipped");
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let repo = temp.path().join("repo");
    let ours = temp.path().join("ours");
    fs::create_dir_all(&repo).unwrap();
    fs::create_dir_all(&ours).unwrap();
    assert!(git(&repo, &["init", "-q", "."]).status.success());

    let mut random = Random(0x6d6d_7374_616c_6c21);
    let (mut compared, mut applied) = (0, 0);
    for case in 0..150 {
        let old = random_file(&mut random);
        let old_newline = !random.chance(15);
        let mut new = old.clone();
        for _ in 0..1 + random.below(4) {
            let roll = random.below(100);
            if roll < 40 && !new.is_empty() {
                let at = random.below(new.len());
                new.remove(at);
            } else if roll < 80 {
                let at = random.below(new.len() + 1);
                new.insert(at, format!("added {}", random.below(100)));
            } else if !new.is_empty() {
                let at = random.below(new.len());
                new[at] = format!("changed {}", random.below(100));
            }
        }
        let new_newline = !random.chance(15);
        let context = ["-U3", "-U3", "-U1"][random.below(3)];

        // The index holds the old file, the work tree the new one.
        fs::write(repo.join("f.c"), render(&old, old_newline)).unwrap();
        assert!(git(&repo, &["add", "f.c"]).status.success());
        fs::write(repo.join("f.c"), render(&new, new_newline)).unwrap();
        let diff = git(&repo, &["diff", "--no-ext-diff", context, "--", "f.c"]).stdout;
        if diff.is_empty() {
            continue;
        }

        // The tree the patch meets has drifted: lines came and went.
        let mut target = old.clone();
        for _ in 0..random.below(4) {
            if random.chance(50) {
                let at = random.below(target.len() + 1);
                target.insert(at, VOCABULARY[random.below(VOCABULARY.len())].to_string());
            } else if !target.is_empty() {
                let at = random.below(target.len());
                target.remove(at);
            }
        }
        let target = render(&target, old_newline);

        fs::write(repo.join("f.c"), &target).unwrap();
        fs::write(repo.join("case.patch"), &diff).unwrap();
        let by_git = git(&repo, &["apply", "case.patch"]);
        let git_result = by_git
            .status
            .success()
            .then(|| fs::read(repo.join("f.c")).unwrap());

        fs::write(ours.join("f.c"), &target).unwrap();
        let series = parse_series(&diff, Path::new("case.patch")).expect("git's diff parses");
        let our_result = apply_to_dir(&series.patches[0], &ours)
            .ok()
            .map(|()| fs::read(ours.join("f.c")).unwrap());

        assert_eq!(
            our_result.as_deref().map(String::from_utf8_lossy),
            git_result.as_deref().map(String::from_utf8_lossy),
            "case {case}: patch\n{}\nonto\n{target}\ngit said: {}",
            String::from_utf8_lossy(&diff),
            String::from_utf8_lossy(&by_git.stderr)
        );
        compared += 1;
        applied += usize::from(git_result.is_some());
    }
    eprintln!("{compared} cases compared with git apply, {applied} applied");
    // The cases must exercise both outcomes to mean anything.
    assert!(
        compared > 100 && applied > 30 && compared - applied > 10,
        "{compared} compared, {applied} applied"
    );
}
