//! KTAP v1 (Documentation/dev-tools/ktap.rst): a writer for the guest program
//! and a parser for the host. Expected failures are written the kselftest way,
//! `ok N name # XFAIL reason` (the kernel's kunit.py counts any `not ok` as a
//! failure); the parser also reads the older `not ok N name # XFAIL reason`
//! as XFAIL. Nested subtests are indented by two spaces per
//! level; diagnostic lines (`# ...`) before a result line belong to it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", content = "reason", rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// Not run: a precondition is missing (the reason says which).
    Skip(String),
    /// Failed as expected (a known deviation; the reason says what was measured).
    Xfail(String),
    /// The test could not measure (a setup step failed).
    Error(String),
}

impl Verdict {
    /// The short name used in tables and JSON.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Skip(_) => "SKIP",
            Verdict::Xfail(_) => "XFAIL",
            Verdict::Error(_) => "ERROR",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    pub name: String,
    pub verdict: Verdict,
    pub diagnostics: Vec<String>,
    pub subtests: Vec<TestResult>,
}

impl TestResult {
    pub fn new(name: &str, verdict: Verdict) -> TestResult {
        TestResult {
            name: name.to_string(),
            verdict,
            diagnostics: Vec::new(),
            subtests: Vec::new(),
        }
    }
}

/// A description may not contain `#` (it starts the directive) or a newline.
fn clean(s: &str) -> String {
    s.replace(['#', '\n', '\r'], " ").trim().to_string()
}

fn result_line(n: usize, r: &TestResult) -> String {
    let name = clean(&r.name);
    match &r.verdict {
        Verdict::Pass => format!("ok {n} {name}"),
        Verdict::Fail => format!("not ok {n} {name}"),
        Verdict::Skip(why) => format!("ok {n} {name} # SKIP {}", clean(why)),
        Verdict::Xfail(why) => format!("ok {n} {name} # XFAIL {}", clean(why)),
        Verdict::Error(why) => format!("not ok {n} {name} # ERROR {}", clean(why)),
    }
}

fn write_level(out: &mut String, results: &[TestResult], depth: usize) {
    let ind = "  ".repeat(depth);
    out.push_str(&format!("{ind}KTAP version 1\n{ind}1..{}\n", results.len()));
    for (i, r) in results.iter().enumerate() {
        if !r.subtests.is_empty() {
            write_level(out, &r.subtests, depth + 1);
        }
        for d in &r.diagnostics {
            for l in d.lines() {
                out.push_str(&format!("{ind}# {l}\n"));
            }
        }
        out.push_str(&ind);
        out.push_str(&result_line(i + 1, r));
        out.push('\n');
    }
}

/// The whole KTAP document for a list of top-level results.
pub fn write(results: &[TestResult]) -> String {
    let mut s = String::new();
    write_level(&mut s, results, 0);
    s
}

/// The header and plan, for a writer that prints results as they finish.
pub fn header(n: usize) -> String {
    format!("KTAP version 1\n1..{n}\n")
}

/// One top-level result (with its subtests and diagnostics), numbered `n`.
pub fn write_one(n: usize, r: &TestResult) -> String {
    let mut s = String::new();
    if !r.subtests.is_empty() {
        write_level(&mut s, &r.subtests, 1);
    }
    for d in &r.diagnostics {
        for l in d.lines() {
            s.push_str(&format!("# {l}\n"));
        }
    }
    s.push_str(&result_line(n, r));
    s.push('\n');
    s
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KtapError {
    #[error("KTAP: no `KTAP version 1` line")]
    NoHeader,
    #[error("KTAP line {line}: {msg}")]
    Bad { line: usize, msg: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parsed {
    pub results: Vec<TestResult>,
    /// The plan of the top level (`1..N`), when present.
    pub planned: Option<usize>,
    /// Problems that do not stop parsing: result numbers out of order, fewer
    /// results than planned (a crashed run), unterminated subtests.
    pub warnings: Vec<String>,
}

fn indent_of(l: &str) -> usize {
    (l.len() - l.trim_start_matches(' ').len()) / 2
}

/// (ok, number, description, directive word and reason)
type ResultLine = (bool, usize, String, Option<(String, String)>);

fn parse_result(body: &str) -> Option<ResultLine> {
    let (ok, rest) = if let Some(r) = body.strip_prefix("not ok ") {
        (false, r)
    } else if let Some(r) = body.strip_prefix("ok ") {
        (true, r)
    } else {
        return None;
    };
    let (num, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let n: usize = num.parse().ok()?;
    let (desc, directive) = match rest.split_once('#') {
        Some((d, dir)) => {
            let dir = dir.trim();
            let (word, why) = dir.split_once(' ').unwrap_or((dir, ""));
            (
                d.trim().to_string(),
                Some((word.to_ascii_uppercase(), why.trim().to_string())),
            )
        }
        None => (rest.trim().to_string(), None),
    };
    Some((ok, n, desc, directive))
}

/// Parses KTAP v1 text; lines that are not KTAP (boot noise, program
/// output) are ignored. Never panics on any input.
pub fn parse(text: &str) -> Result<Parsed, KtapError> {
    let mut p = Parser::default();
    for (i, raw) in text.lines().enumerate() {
        p.line(i + 1, raw)?;
    }
    p.finish()
}

/// One open level of (sub)tests.
struct Level {
    depth: usize,
    results: Vec<TestResult>,
    /// Diagnostics waiting for the next result line of this level.
    diags: Vec<String>,
    plan: Option<usize>,
}

/// [`parse`]'s state: the stack of open levels (the top level first) and
/// what it warned about.
#[derive(Default)]
struct Parser {
    stack: Vec<Level>,
    warnings: Vec<String>,
    seen_header: bool,
}

impl Parser {
    fn line(&mut self, lineno: usize, raw: &str) -> Result<(), KtapError> {
        let line = raw.trim_end();
        let body = line.trim_start();
        let depth = indent_of(line);
        if body.starts_with("KTAP version ") || body.starts_with("TAP version ") {
            return self.header(lineno, body, depth);
        }
        if self.stack.is_empty() {
            return Ok(());
        }
        if let Some(plan) = body.strip_prefix("1..") {
            self.plan(lineno, body, plan, depth);
        } else if let Some(d) = body.strip_prefix('#') {
            if let Some(l) = self.stack.iter_mut().rev().find(|l| l.depth <= depth) {
                l.diags.push(d.strip_prefix(' ').unwrap_or(d).to_string());
            }
        } else if let Some(r) = parse_result(body) {
            self.result(lineno, depth, r);
        }
        // Any other line: ignored (KTAP allows it).
        Ok(())
    }

    /// A version line opens a level: it must be deeper than the current one
    /// (or the first).
    fn header(&mut self, lineno: usize, body: &str, depth: usize) -> Result<(), KtapError> {
        if !body.ends_with(" 1") && !body.starts_with("TAP version 1") {
            return Err(KtapError::Bad {
                line: lineno,
                msg: format!("unsupported version `{body}`"),
            });
        }
        self.seen_header = true;
        while self.stack.last().is_some_and(|l| l.depth >= depth) && self.stack.len() > 1 {
            let l = self.stack.pop().expect("non-empty");
            self.warnings.push(format!(
                "line {lineno}: subtest block at depth {} ended without a result line",
                l.depth
            ));
        }
        self.stack.push(Level {
            depth,
            results: Vec::new(),
            diags: Vec::new(),
            plan: None,
        });
        Ok(())
    }

    fn plan(&mut self, lineno: usize, body: &str, plan: &str, depth: usize) {
        if let Some(l) = self.stack.iter_mut().rev().find(|l| l.depth == depth) {
            l.plan = plan.trim().parse().ok();
            if l.plan.is_none() {
                self.warnings
                    .push(format!("line {lineno}: unreadable plan `{body}`"));
            }
        }
    }

    /// A result line closes the deeper levels (its subtests) and is
    /// recorded at its own level with the diagnostics before it.
    fn result(&mut self, lineno: usize, depth: usize, (ok, n, desc, directive): ResultLine) {
        let mut subtests = Vec::new();
        while self.stack.len() > 1 && self.stack.last().is_some_and(|l| l.depth > depth) {
            let l = self.stack.pop().expect("non-empty");
            if let Some(p) = l.plan {
                if p != l.results.len() {
                    self.warnings.push(format!(
                        "line {lineno}: subtests of `{desc}` planned {p}, found {}",
                        l.results.len()
                    ));
                }
            }
            subtests = l.results;
        }
        let Some(level) = self.stack.iter_mut().rev().find(|l| l.depth == depth) else {
            self.warnings
                .push(format!("line {lineno}: result at unexpected indentation"));
            return;
        };
        if n != level.results.len() + 1 {
            self.warnings.push(format!(
                "line {lineno}: result number {n}, expected {}",
                level.results.len() + 1
            ));
        }
        let verdict = match directive {
            Some((w, why)) if w == "SKIP" => Verdict::Skip(why),
            Some((w, why)) if w == "XFAIL" => Verdict::Xfail(why),
            Some((w, why)) if w == "ERROR" || w == "TIMEOUT" => {
                Verdict::Error(if why.is_empty() { w } else { why })
            }
            _ if ok => Verdict::Pass,
            _ => Verdict::Fail,
        };
        let diagnostics = std::mem::take(&mut level.diags);
        level.results.push(TestResult {
            name: desc,
            verdict,
            diagnostics,
            subtests,
        });
    }

    /// The end of the text: open subtest levels are warned about, the top
    /// level's plan checked.
    fn finish(mut self) -> Result<Parsed, KtapError> {
        if !self.seen_header {
            return Err(KtapError::NoHeader);
        }
        while self.stack.len() > 1 {
            let l = self.stack.pop().expect("non-empty");
            self.warnings.push(format!(
                "subtest block at depth {} has no result line (the run stopped?)",
                l.depth
            ));
        }
        let top = self.stack.pop().expect("header seen");
        if let Some(p) = top.plan {
            if p != top.results.len() {
                self.warnings.push(format!(
                    "planned {p} tests, found {} results",
                    top.results.len()
                ));
            }
        }
        Ok(Parsed {
            results: top.results,
            planned: top.plan,
            warnings: self.warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<TestResult> {
        let mut a = TestResult::new("munmap-zap-stall", Verdict::Fail);
        let mut s1 = TestResult::new("munmap", Verdict::Fail);
        s1.diagnostics
            .push("rep 1: op 231.0 ms, worst reader 229.8 ms, ratio 0.995".into());
        a.subtests = vec![
            s1,
            TestResult::new("brk-shrink", Verdict::Skip("no brk".into())),
        ];
        a.diagnostics.push("1 of 2 variants failed".into());
        let b = TestResult::new(
            "mlock-posix-atomicity",
            Verdict::Xfail("locked 4 of 8 pages # partly".into()),
        );
        vec![
            a,
            b,
            TestResult::new("x", Verdict::Pass),
            TestResult::new("y", Verdict::Error("mmap failed".into())),
        ]
    }

    #[test]
    fn writes_the_documented_shape() {
        let t = write(&sample());
        assert_eq!(
            t,
            "KTAP version 1\n1..4\n  KTAP version 1\n  1..2\n  # rep 1: op 231.0 ms, worst reader 229.8 ms, ratio 0.995\n  not ok 1 munmap\n  ok 2 brk-shrink # SKIP no brk\n# 1 of 2 variants failed\nnot ok 1 munmap-zap-stall\nok 2 mlock-posix-atomicity # XFAIL locked 4 of 8 pages   partly\nok 3 x\nnot ok 4 y # ERROR mmap failed\n"
        );
    }

    #[test]
    fn round_trips() {
        let mut want = sample();
        want[1].verdict = Verdict::Xfail("locked 4 of 8 pages   partly".into());
        let p = parse(&write(&sample())).unwrap();
        assert_eq!(p.results, want);
        assert_eq!(p.planned, Some(4));
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        // Streaming writer gives the same text.
        let s = sample();
        let mut streamed = header(s.len());
        for (i, r) in s.iter().enumerate() {
            streamed.push_str(&write_one(i + 1, r));
        }
        assert_eq!(streamed, write(&s));
    }

    #[test]
    fn reads_both_xfail_forms() {
        // kselftest's `ok ... # XFAIL` (what the writer emits) and the older
        // `not ok ... # XFAIL` of stored outputs are both an expected failure.
        let p =
            parse("KTAP version 1\n1..2\nok 1 a # XFAIL partial\nnot ok 2 b # XFAIL older form\n")
                .unwrap();
        assert_eq!(p.results[0].verdict, Verdict::Xfail("partial".into()));
        assert_eq!(p.results[1].verdict, Verdict::Xfail("older form".into()));
    }

    #[test]
    fn ignores_noise_and_reports_truncation() {
        let text = "[    1.0] booting\nKTAP version 1\n1..3\nrandom output\nok 1 a\n  KTAP version 1\n  1..2\n  ok 1 s\n";
        let p = parse(text).unwrap();
        assert_eq!(p.results.len(), 1);
        assert_eq!(p.results[0].name, "a");
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("planned 3 tests, found 1")),
            "{:?}",
            p.warnings
        );
        assert!(
            p.warnings.iter().any(|w| w.contains("no result line")),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn rejects_missing_header_and_never_panics() {
        assert_eq!(parse("ok 1 a\n"), Err(KtapError::NoHeader));
        assert!(parse("KTAP version 2\n").is_err());
        for junk in [
            "KTAP version 1\n   ok",
            "KTAP version 1\n1..x\nok a b\nnot ok\n#",
            "KTAP version 1\n      ok 1 deep\n",
            "\u{0}KTAP version 1\n\tok 1 t\n",
        ] {
            let _ = parse(junk);
        }
        let p =
            parse("KTAP version 1\n1..1\nok 2 wrong-number # skip lower-case directive\n").unwrap();
        assert_eq!(
            p.results[0].verdict,
            Verdict::Skip("lower-case directive".into())
        );
        assert!(!p.warnings.is_empty());
    }
}
