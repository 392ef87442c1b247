//! `mmstall snapshot`: findings as a reviewable snapshot file, and the check
//! of a stored one (thin layer over `mmstall_revisions::snapshot`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use mmstall_analyzer::LintOptions;
use mmstall_revisions::{snapshot, PathFilter, Workspace};

#[derive(Args)]
pub struct SnapshotArgs {
    /// Without --repo: one tree, subdirectory or file (`debian:6.12/mm` too).
    /// With --repo: path prefixes within the revision.
    pub paths: Vec<String>,
    /// Write the snapshot to FILE (default: stdout).
    #[arg(short = 'o', long = "output", conflicts_with = "check")]
    pub output: Option<PathBuf>,
    /// Compare with a stored snapshot: print a unified diff and exit 1 on change.
    #[arg(long)]
    pub check: Option<PathBuf>,
    /// With --check: rewrite the stored snapshot when it differs (exit 0).
    #[arg(long, requires = "check")]
    pub accept: bool,
    /// Take the sources from a revision of this git repository (no checkout).
    #[arg(long, requires = "rev")]
    pub repo: Option<PathBuf>,
    /// The revision to snapshot (with --repo).
    #[arg(long, requires = "repo")]
    pub rev: Option<String>,
    /// Catalogue extension (default: mmstall.toml at PATH for a tree, else built-in).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub fn run(args: SnapshotArgs) -> anyhow::Result<i32> {
    let findings = match (&args.repo, &args.rev) {
        (Some(repo), Some(rev)) => {
            let cat = crate::diff::catalogue(args.config.as_deref())?;
            let mut ws = Workspace::open(repo, cat, PathFilter::new(&args.paths))?;
            let tree = ws.resolve(rev)?;
            let analysis = ws.analyze(tree)?;
            ws.check_selected(&[(rev, &analysis)])?;
            analysis.report.findings.clone()
        }
        _ => {
            let [path] = args.paths.as_slice() else {
                anyhow::bail!(
                    "snapshot needs exactly one PATH without --repo (got {})",
                    args.paths.len()
                );
            };
            let root = crate::lint::resolve_tree(path)?;
            let cat = crate::lint::load_catalogue(&root, args.config.as_deref())?;
            mmstall_analyzer::lint_path(&root, &cat, &LintOptions::default())?
                .report
                .findings
        }
    };
    let text = snapshot::render(&findings);
    if let Some(file) = &args.check {
        let stored = match std::fs::read_to_string(file) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
        };
        return Ok(
            match snapshot::check(&file.display().to_string(), stored.as_deref(), &text) {
                snapshot::Check::Same => 0,
                snapshot::Check::Changed(diff) => {
                    print!("{diff}");
                    if args.accept {
                        mmstall_fsio::write_atomic(file, text.as_bytes())?;
                        eprintln!("accepted: {} rewritten", file.display());
                        0
                    } else {
                        eprintln!("{} differs from the current findings (rerun with --accept to rewrite it)", file.display());
                        1
                    }
                }
            },
        );
    }
    match &args.output {
        Some(file) => mmstall_fsio::write_atomic(file, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(0)
}
