//! `mmstall series`: thin layer over `mmstall_revisions::analyze_series`.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use mmstall_revisions::{analyze_series, render, PathFilter, Workspace};

#[derive(Clone, Copy, ValueEnum)]
pub enum SeriesFormat {
    Text,
    Json,
    /// For a CI comment.
    Markdown,
    /// SARIF 2.1.0 of the findings the series introduces (base against the
    /// tree after the last applied patch), each naming its patch.
    Sarif,
}

#[derive(Args)]
pub struct SeriesArgs {
    /// The kernel's git repository (only its object database is read; the
    /// patched trees' objects are kept in memory: nothing is written).
    #[arg(long)]
    pub repo: PathBuf,
    /// The revision the series applies onto.
    #[arg(long)]
    pub base: String,
    /// An mbox (`git format-patch --stdout`, `b4 am`), one patch, a
    /// directory of `*.patch` files, or `-`: an mbox or patch on stdin.
    pub series: PathBuf,
    /// Restrict the analysis to these path prefixes.
    pub paths: Vec<String>,
    /// Skip a patch that does not apply and go on (default: stop there).
    #[arg(long)]
    pub keep_going: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub format: SeriesFormat,
    /// Print per-tree analysis times and parse-cache use on stderr.
    #[arg(long)]
    pub stats: bool,
    /// Catalogue extension (default: the built-in catalogue only).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Attach what `mmstall confirm` measured on the patched kernel (its
    /// confirm.json) to the findings the patches introduce and to the net
    /// result's new and unchanged findings.
    #[arg(long, value_name = "CONFIRM_JSON")]
    pub confirmations: Option<PathBuf>,
}

pub fn run(args: SeriesArgs) -> anyhow::Result<i32> {
    let cat = crate::diff::catalogue(args.config.as_deref())?;
    let series = if args.series.as_os_str() == "-" {
        let mut input = Vec::new();
        std::io::stdin()
            .read_to_end(&mut input)
            .context("reading the series from stdin")?;
        mmstall_series::parse_series(&input, Path::new("<stdin>"))?
    } else {
        mmstall_series::load_series(&args.series)?
    };
    let mut ws = Workspace::open(&args.repo, cat, PathFilter::new(&args.paths))?;
    let mut report = analyze_series(&mut ws, &args.base, &series, args.keep_going)?;
    if let Some(path) = &args.confirmations {
        let c = crate::confirmations::load(path)?;
        let mut attached = 0;
        for p in &mut report.patches {
            attached += crate::confirmations::attach(&mut p.introduced, &c).0;
        }
        attached += crate::confirmations::attach(&mut report.net.introduced, &c).0;
        attached += crate::confirmations::attach(&mut report.net.unchanged, &c).0;
        eprintln!(
            "confirmations: {attached} finding(s) measured on {} attached",
            c.kernel_release
        );
    }
    // Whatever the format: a file left out is a hole in the verdict.
    for s in &report.missing_blobs {
        eprintln!("warning: skipped: {}: {}", s.file, s.reason);
    }
    let out = match args.format {
        SeriesFormat::Text => render::series_text(&report),
        SeriesFormat::Json => render::series_json(&report),
        SeriesFormat::Markdown => render::series_markdown(&report),
        SeriesFormat::Sarif => render::series_sarif(&report),
    };
    print!("{out}");
    if args.stats {
        let t = &report.base.timing;
        let cpu = |t: &mmstall_revisions::Timing| {
            t.cpu_ms
                .map(|c| format!(" (CPU {c} ms)"))
                .unwrap_or_default()
        };
        eprintln!(
            "base: load {} ms, analysis {} ms{}, chunks parsed {}",
            t.load_ms,
            t.analyze_ms,
            cpu(t),
            t.parse_misses
        );
        for p in &report.patches {
            if let Some(t) = &p.timing {
                eprintln!(
                    "patch {}: files scanned {} ({} known by content), load {} ms, analysis {} ms{}, chunks parsed {} (from cache {}), summaries computed {} (reused {}){}",
                    p.index,
                    t.files_scanned,
                    t.files_from_cache,
                    t.load_ms,
                    t.analyze_ms,
                    cpu(t),
                    t.parse_misses,
                    t.parse_hits,
                    t.summaries_computed,
                    t.summaries_reused,
                    if t.reused { ", no analyzed file changed: reused" } else { "" }
                );
            }
        }
    }
    Ok(report.exit_code())
}
