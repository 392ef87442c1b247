//! The whole-PATH run: discover, prefilter, parse in parallel, analyze, and
//! pull in more files on demand (callees reached under a write hold whose
//! definitions live in files the prefilter skipped).

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use crate::catalogue::Catalogue;
use crate::error::AnalyzerError;
use crate::finding::{finding_from_hit, Finding, Report, Stats};
use crate::ir::Function;
use crate::lockstate::{Held, ORIGIN_ENTRY};
use crate::parse;
use crate::source::{self, Prefilter, Skipped, SourceFile};
use crate::summary::Program;

#[derive(Debug, Clone, Default)]
pub struct LintOptions {
    /// Parse every file, not only those the prefilter selects (for `--stats`).
    pub parse_all: bool,
}

/// What the run keeps of each parsed file.
pub struct ParsedFile {
    pub rel: String,
    pub text: String,
    pub functions: Vec<Function>,
}

pub struct LintRun {
    pub report: Report,
    /// Sources of parsed files, for printers that show code.
    pub sources: std::collections::HashMap<String, String>,
}

const MAX_PULL_ROUNDS: usize = 3;

pub fn lint_path(root: &Path, cat: &Catalogue, options: &LintOptions) -> Result<LintRun, AnalyzerError> {
    let started = Instant::now();
    if !root.exists() {
        return Err(AnalyzerError::MissingPath { path: root.to_path_buf() });
    }
    let paths = source::discover(root);
    let prefilter = Prefilter::new(&cat.lock_tokens());
    // Read and prefilter in parallel; keep only the selected texts.
    let read: Vec<Result<Option<SourceFile>, Skipped>> = paths
        .par_iter()
        .map(|p| {
            let sf = source::read_text(root, p)?;
            Ok((options.parse_all || prefilter.matches(sf.text.as_bytes())).then_some(sf))
        })
        .collect();
    let mut skipped = Vec::new();
    let mut selected = Vec::new();
    let mut unselected: Vec<PathBuf> = Vec::new();
    for (r, p) in read.into_iter().zip(&paths) {
        match r {
            Ok(Some(sf)) => selected.push(sf),
            Ok(None) => unselected.push(p.clone()),
            Err(s) => skipped.push(s),
        }
    }
    let mut parsed = parse_all(selected, cat, &mut skipped);
    let mut definition_index: Option<Vec<(PathBuf, HashSet<String>)>> = None;

    let mut round = 0;
    let findings = loop {
        round += 1;
        let files: Vec<String> = parsed.iter().map(|p| p.rel.clone()).collect();
        let functions: Vec<Function> = parsed
            .iter()
            .enumerate()
            .flat_map(|(i, p)| {
                p.functions.iter().cloned().map(move |mut f| {
                    f.file = i as u32;
                    f
                })
            })
            .collect();
        let program = Program::new(cat, files, functions);
        let findings = run_rules(&program);
        let missing = program.unresolved_under_write.borrow().clone();
        if missing.is_empty() || unselected.is_empty() || round >= MAX_PULL_ROUNDS {
            break findings;
        }
        let index = definition_index.get_or_insert_with(|| index_definitions(&unselected));
        let wanted: Vec<PathBuf> = index
            .iter()
            .filter(|(_, names)| names.iter().any(|n| missing.contains(n)))
            .map(|(p, _)| p.clone())
            .collect();
        if wanted.is_empty() {
            break findings;
        }
        let wanted_set: HashSet<&PathBuf> = wanted.iter().collect();
        unselected.retain(|p| !wanted_set.contains(p));
        index.retain(|(p, _)| !wanted_set.contains(p));
        let texts: Vec<SourceFile> = wanted
            .iter()
            .filter_map(|p| match source::read_text(root, p) {
                Ok(sf) => Some(sf),
                Err(s) => {
                    skipped.push(s);
                    None
                }
            })
            .collect();
        parsed.extend(parse_all(texts, cat, &mut skipped));
        parsed.sort_by(|a, b| a.rel.cmp(&b.rel));
    };

    let stats = Stats {
        files: paths.len(),
        files_parsed: parsed.len(),
        functions: parsed.iter().map(|p| p.functions.len()).sum(),
        functions_with_parse_errors: parsed.iter().flat_map(|p| &p.functions).filter(|f| f.has_parse_error).count(),
        bytes_parsed: parsed.iter().map(|p| p.text.len()).sum(),
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    skipped.sort_by(|a, b| a.file.cmp(&b.file));
    let sources = parsed.into_iter().map(|p| (p.rel, p.text)).collect();
    Ok(LintRun { report: Report { version: 1, findings, stats, skipped }, sources })
}

fn parse_all(files: Vec<SourceFile>, cat: &Catalogue, skipped: &mut Vec<Skipped>) -> Vec<ParsedFile> {
    let results: Vec<Result<ParsedFile, Skipped>> = files
        .into_par_iter()
        .map_init(parse::new_parser, |parser, sf| {
            let parser = parser.as_mut().map_err(|e| Skipped { file: sf.rel.clone(), reason: e.to_string() })?;
            match parse::parse_file(parser, &sf.text, 0, cat) {
                Ok(ir) => Ok(ParsedFile { rel: sf.rel, text: sf.text, functions: ir.functions }),
                Err(e) => Err(Skipped { file: sf.rel, reason: format!("failed to parse: {e}") }),
            }
        })
        .collect();
    let mut out = Vec::new();
    for r in results {
        match r {
            Ok(p) => out.push(p),
            Err(s) => skipped.push(s),
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    out
}

/// Runs the lock-hold rules over every root (function that takes the lock
/// for write or is promised a write hold on entry).
pub fn run_rules(program: &Program) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut seen = HashSet::new();
    let roots = program.roots();
    let mut asserted = Vec::new();
    for &root in &roots {
        for env in program.contexts(root, 0).iter() {
            let result = program.analyze(root, env);
            for hit in &result.local_hits {
                let f = finding_from_hit(program, hit, env);
                if seen.insert(f.fingerprint.clone()) {
                    findings.push(f);
                }
            }
            if program.function(root).entry_hint.is_some_and(|h| h.mode == crate::catalogue::LockMode::Write) {
                asserted.push((root, result.clone(), env.clone()));
            }
        }
    }
    // A function promised a write hold on entry is its own holder only when no
    // analyzed caller holds the lock for it (those findings name the caller).
    let called = program.called_under_write.borrow();
    for (root, result, env) in asserted {
        if called.contains(&root) {
            continue;
        }
        for hit in &result.entry_write_hits {
            debug_assert_eq!(hit.acquired, ORIGIN_ENTRY);
            let f = finding_from_hit(program, hit, &env);
            if seen.insert(f.fingerprint.clone()) {
                findings.push(f);
            }
        }
    }
    let _ = Held::Write;
    findings.sort_by(|a, b| (&a.file, a.line, a.column, a.code, &a.holder).cmp(&(&b.file, b.line, b.column, b.code, &b.holder)));
    findings
}

/// Names of functions a file defines, read lexically: a line starting at
/// column 0 with an identifier, whose first `(` follows a name, and that is
/// not a prototype. Cheap enough for every file of a whole tree.
pub fn defined_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(first) = line.bytes().next() else { continue };
        if !(first.is_ascii_alphabetic() || first == b'_') || line.trim_end().ends_with(';') {
            continue;
        }
        let Some(paren) = line.find('(') else { continue };
        let head = line[..paren].trim_end();
        let name: String = head.chars().rev().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<Vec<_>>().into_iter().rev().collect();
        if !name.is_empty() && !name.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            names.insert(name);
        }
    }
    names
}

fn index_definitions(paths: &[PathBuf]) -> Vec<(PathBuf, HashSet<String>)> {
    paths
        .par_iter()
        .filter_map(|p| {
            let text = std::fs::read(p).ok()?;
            let text = String::from_utf8_lossy(&text);
            Some((p.clone(), defined_names(&text).into_iter().collect()))
        })
        .collect()
}
