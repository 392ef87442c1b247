//! `mmstall lint`: thin layer over `mmstall_analyzer`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use mmstall_analyzer::baseline::Baseline;
use mmstall_analyzer::{printers, rules, Catalogue, LintOptions};

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
    /// GitHub Actions annotations.
    Github,
}

#[derive(Args)]
pub struct LintArgs {
    /// Kernel tree, subdirectory or file to analyze. `debian:6.12` (optionally
    /// `debian:6.12/mm`) names Debian's linux-source-6.12 unpacked by the setup script.
    pub path: String,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Print files, functions, functions with parse errors and elapsed time.
    #[arg(long)]
    pub stats: bool,
    /// Parse every file (no prefilter), e.g. to measure parse quality.
    #[arg(long)]
    pub parse_all: bool,
    /// Catalogue extension (default: mmstall.toml at the tree root, if present).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Report (and fail on) only findings whose fingerprint is not in FILE.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// With --format github: path of PATH relative to the repository root.
    #[arg(long, default_value = "")]
    pub annotation_prefix: String,
    /// Rounds of pulling in the definitions of callees reached under a write
    /// hold, on a whole tree (default 8). On 6.12 the findings stop changing
    /// at 12, for about twice the time.
    #[arg(long, value_name = "N")]
    pub pull_rounds: Option<usize>,
}

#[derive(Args)]
pub struct BaselineArgs {
    /// Kernel tree or subdirectory (as for `lint`).
    pub path: String,
    /// Where to write the baseline (JSON).
    #[arg(short, long)]
    pub output: PathBuf,
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Args)]
pub struct ExplainArgs {
    /// Rule id (`write-hold-zap`) or code (`MMS002`).
    pub rule: String,
}

#[derive(Args)]
pub struct CatalogueArgs {
    /// Tree whose mmstall.toml extends the built-in catalogue.
    #[arg(long)]
    pub path: Option<String>,
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// The cache directory shared with the harness and setup script.
pub fn cache_dir() -> PathBuf {
    if let Some(c) = std::env::var_os("MMSTALL_CACHE") {
        return PathBuf::from(c);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
        });
    base.join("mmstall")
}

/// Resolves `debian:6.12[/sub]` to the unpacked Debian tree.
pub fn resolve_tree(spec: &str) -> anyhow::Result<PathBuf> {
    if let Some(rest) = spec.strip_prefix("debian:") {
        let (version, sub) = rest.split_once('/').unwrap_or((rest, ""));
        let tree = cache_dir()
            .join("src")
            .join(format!("linux-source-{version}"));
        if !tree.is_dir() {
            anyhow::bail!("{spec}: {} is missing; run scripts/setup.sh to install and unpack linux-source-{version}", tree.display());
        }
        return Ok(if sub.is_empty() { tree } else { tree.join(sub) });
    }
    Ok(PathBuf::from(spec))
}

pub fn load_catalogue(root: &Path, config: Option<&Path>) -> anyhow::Result<Catalogue> {
    let default = root.join("mmstall.toml");
    let path = match config {
        Some(p) => Some(p.to_path_buf()),
        None => default.is_file().then_some(default),
    };
    match path {
        Some(p) => {
            Catalogue::with_user_file(&p).with_context(|| format!("loading {}", p.display()))
        }
        None => Ok(Catalogue::builtin()),
    }
}

pub fn run(args: LintArgs) -> anyhow::Result<i32> {
    let root = resolve_tree(&args.path)?;
    let catalogue = load_catalogue(&root, args.config.as_deref())?;
    let baseline = match &args.baseline {
        Some(p) => Some(Baseline::load(p)?),
        None => None,
    };
    let options = LintOptions {
        parse_all: args.parse_all,
        pull_rounds: args.pull_rounds,
        ..Default::default()
    };
    let mut run = mmstall_analyzer::lint_path(&root, &catalogue, &options)?;
    let mut suppressed = 0;
    if let Some(b) = &baseline {
        let findings = std::mem::take(&mut run.report.findings);
        let (new, known) = b.filter(findings);
        suppressed = known.len();
        run.report.findings = new;
    }
    // In text, what was skipped (files, directories, functions nested too
    // deep, holders whose results a bound cut) goes to stderr, apart from
    // the findings; the other formats carry it in the document.
    if matches!(args.format, Format::Text) {
        for s in std::mem::take(&mut run.report.skipped) {
            eprintln!("skipped: {}: {}", s.file, s.reason);
        }
    }
    let report = &run.report;
    let out = match args.format {
        Format::Text => printers::text::render(report, &run.sources),
        Format::Json => printers::json::render(report),
        Format::Sarif => printers::sarif::render(&report.findings),
        Format::Github => printers::github::render(&report.findings, &args.annotation_prefix),
    };
    print!("{out}");
    if suppressed > 0 {
        eprintln!("{suppressed} finding(s) suppressed by the baseline");
    }
    if args.stats {
        eprint!("{}", printers::text::render_stats(report));
    }
    Ok(if report.findings.is_empty() { 0 } else { 1 })
}

pub fn baseline(args: BaselineArgs) -> anyhow::Result<i32> {
    let root = resolve_tree(&args.path)?;
    let catalogue = load_catalogue(&root, args.config.as_deref())?;
    let run = mmstall_analyzer::lint_path(&root, &catalogue, &LintOptions::default())?;
    for s in &run.report.skipped {
        eprintln!("skipped: {}: {}", s.file, s.reason);
    }
    let b = Baseline::from_findings(&run.report.findings);
    b.write(&args.output)?;
    eprintln!(
        "wrote {} finding(s) to {}",
        b.findings.len(),
        args.output.display()
    );
    Ok(0)
}

pub fn explain(args: ExplainArgs) -> anyhow::Result<i32> {
    match rules::find(&args.rule) {
        Some(rule) => {
            print!("{}", rule.doc);
            Ok(0)
        }
        None => {
            let known: Vec<String> = rules::ALL
                .iter()
                .map(|r| format!("{} ({})", r.id, r.code))
                .collect();
            anyhow::bail!("unknown rule `{}`; rules: {}", args.rule, known.join(", "))
        }
    }
}

pub fn list_rules() -> anyhow::Result<i32> {
    for r in rules::ALL {
        println!(
            "{}  {:<22} {:<8} {}",
            r.code,
            r.id,
            r.default_severity.as_str(),
            r.summary
        );
    }
    Ok(0)
}

pub fn catalogue(args: CatalogueArgs) -> anyhow::Result<i32> {
    let root = match &args.path {
        Some(p) => resolve_tree(p)?,
        None => PathBuf::from("."),
    };
    let cat = load_catalogue(&root, args.config.as_deref())?;
    print!("{}", toml::to_string_pretty(&cat.merged_toml)?);
    Ok(0)
}
