//! The nightly plan (`ci/nightly.toml`): kernel trees, config sets, series,
//! the static and dynamic settings. Every error names the plan file, the line
//! and the key.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}:{column}: {key}: {message}")]
pub struct PlanError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub key: String,
    pub message: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "kernel")]
    kernels: Vec<RawKernel>,
    #[serde(default, rename = "config")]
    configs: Vec<RawConfig>,
    #[serde(default, rename = "series")]
    series: Vec<RawSeries>,
    /// A regression-series manifest (`patches/manifest.toml`): each of its
    /// `[[series]]` (`name`, `path`) becomes a series of the plan.
    #[serde(default)]
    manifest: Option<Spanned<String>>,
    #[serde(default, rename = "static")]
    static_: Option<StaticSettings>,
    #[serde(default)]
    suite: Option<SuiteSettings>,
    #[serde(default)]
    build: Option<BuildSettings>,
    #[serde(default)]
    boot: Option<BootSettings>,
}

impl RawPlan {
    /// No key at all (an empty file, or only comments).
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.kernels.is_empty()
            && self.configs.is_empty()
            && self.series.is_empty()
            && self.manifest.is_none()
            && self.static_.is_none()
            && self.suite.is_none()
            && self.build.is_none()
            && self.boot.is_none()
    }
}

/// The key an error at byte `offset` of a TOML document is about, as the
/// user writes it: `series[2].mbox`, `kernel[0].tree`, `series[0].git.repo`.
/// From the tables opened before it (`[[series]]` counted per name,
/// `[static]`), the keys of inline tables open on its line, and the key
/// being assigned. `unknown field`/`missing field` errors add the field the
/// message names. Line-based: a value spread over several lines is named by
/// its table.
fn key_path_at(text: &str, offset: usize, message: &str) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map(|p| p + 1).unwrap_or(0);
    let line_end = text[offset..]
        .find('\n')
        .map(|p| offset + p)
        .unwrap_or(text.len());
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    let mut table = String::new();
    let mut on_header = false;
    for l in text[..line_end].lines() {
        let t = l.trim();
        on_header = false;
        if let Some(rest) = t.strip_prefix("[[") {
            let name = rest.split("]]").next().unwrap_or("").trim().to_string();
            let n = counts.entry(name.clone()).or_insert(0);
            table = format!("{name}[{n}]");
            *n += 1;
            on_header = true;
        } else if let Some(rest) = t.strip_prefix('[') {
            let name = rest.split(']').next().unwrap_or("").trim().to_string();
            // `[series.git]` after `[[series]]`: a sub-table of the last entry.
            table = match name.split_once('.') {
                Some((head, tail)) if counts.contains_key(head) => {
                    format!("{head}[{}].{tail}", counts[head] - 1)
                }
                _ => name,
            };
            on_header = true;
        }
    }
    let mut parts: Vec<String> = Vec::new();
    if !table.is_empty() {
        parts.push(table);
    }
    if !on_header {
        // Inline tables opened before the offset on this line, then the key
        // assigned last (`git = { repo = 5` → git.repo).
        let prefix = &text[line_start..offset];
        let mut stack: Vec<String> = Vec::new();
        let mut pending: Option<String> = None;
        let mut seg_start = 0;
        let mut in_str = false;
        for (i, ch) in prefix.char_indices() {
            match ch {
                '"' | '\'' => in_str = !in_str,
                _ if in_str => {}
                '=' => {
                    pending = Some(prefix[seg_start..i].trim().trim_matches('"').to_string());
                }
                '{' => {
                    if let Some(k) = pending.take() {
                        stack.push(k);
                    }
                    seg_start = i + 1;
                }
                '}' => {
                    stack.pop();
                    seg_start = i + 1;
                    pending = None;
                }
                ',' => {
                    seg_start = i + 1;
                    pending = None;
                }
                _ => {}
            }
        }
        parts.extend(stack);
        parts.extend(pending.filter(|k| !k.is_empty()));
    }
    if message.starts_with("unknown field") || message.starts_with("missing field") {
        if let Some(field) = message.split('`').nth(1) {
            if parts.last().map(String::as_str) != Some(field) {
                parts.push(field.to_string());
            }
        }
    }
    if parts.is_empty() {
        "(syntax)".into()
    } else {
        parts.join(".")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKernel {
    name: Spanned<String>,
    /// `debian:6.12` or a directory (a plain tree or a checkout).
    #[serde(default)]
    tree: Option<Spanned<String>>,
    /// A git repository (path or URL) and a ref in it.
    #[serde(default)]
    repo: Option<Spanned<String>>,
    #[serde(default, rename = "ref")]
    git_ref: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: Spanned<String>,
    fragments: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeries {
    name: Spanned<String>,
    #[serde(default)]
    mbox: Option<Spanned<String>>,
    #[serde(default)]
    dir: Option<Spanned<String>>,
    #[serde(default)]
    git: Option<Spanned<RawGitRange>>,
    #[serde(default)]
    kernels: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    configs: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGitRange {
    repo: String,
    range: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StaticSettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Path prefixes the static analysis is restricted to (empty: whole tree).
    #[serde(default = "default_paths")]
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SuiteSettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The mmstall subcommand that runs the stall suite on a built kernel;
    /// `{kernel}` is replaced by the build key, `{out}` by a directory for its
    /// logs, `{guest}` by the guest program (`mmstall-guest` next to mmstall;
    /// the suite is unavailable without it). It must print the suite JSON,
    /// or `vm run --json` output whose stdout is the suite JSON (docs/nightly.md).
    #[serde(default = "default_suite_args")]
    pub args: Vec<String>,
    /// Where the suite writes its JSON report (placeholders as in `args`);
    /// `none`: the report is the command's stdout.
    #[serde(default = "default_report")]
    pub report: String,
    /// A patched ratio above baseline × (1 + tolerance) is a regression ...
    #[serde(default = "default_tolerance")]
    pub ratio_tolerance: f64,
    /// ... when it is also above this floor: below it, ratios are noise (the
    /// stall tests fail from 0.5, readers waiting for half the operation).
    #[serde(default = "default_floor")]
    pub ratio_floor: f64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BuildSettings {
    /// `false`: a static-only night (no kernel builds, boots or suite).
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl Default for BuildSettings {
    fn default() -> Self {
        BuildSettings { enabled: true }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BootSettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_boot_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_command_timeout")]
    pub command_timeout_secs: u64,
}

fn yes() -> bool {
    true
}
fn default_paths() -> Vec<String> {
    vec!["mm".into()]
}
fn default_suite_args() -> Vec<String> {
    [
        "vm",
        "run",
        "--kernel",
        "{kernel}",
        "--exec",
        "{guest} suite --json {out}/stall.json",
        "--memory",
        "2G",
        "--cpus",
        "2",
        "--timeout",
        "900",
        "--out",
        "{out}",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}
fn default_report() -> String {
    "{out}/stall.json".into()
}
fn default_floor() -> f64 {
    0.25
}
fn default_tolerance() -> f64 {
    0.5
}
fn default_boot_timeout() -> u64 {
    300
}
fn default_command_timeout() -> u64 {
    120
}

impl Default for StaticSettings {
    fn default() -> Self {
        StaticSettings {
            enabled: true,
            paths: default_paths(),
        }
    }
}
impl Default for SuiteSettings {
    fn default() -> Self {
        SuiteSettings {
            enabled: true,
            args: default_suite_args(),
            report: default_report(),
            ratio_tolerance: default_tolerance(),
            ratio_floor: default_floor(),
        }
    }
}
impl Default for BootSettings {
    fn default() -> Self {
        BootSettings {
            enabled: true,
            timeout_secs: default_boot_timeout(),
            command_timeout_secs: default_command_timeout(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum KernelSource {
    /// `debian:6.12` or a directory given to `vm build --tree` as is.
    Tree { tree: String },
    /// A git repository and a ref: checked out (shared clone) into the cache.
    Git { repo: String, git_ref: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    pub name: String,
    pub source: KernelSource,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigSet {
    pub name: String,
    pub fragments: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SeriesSource {
    Mbox { path: PathBuf },
    Dir { path: PathBuf },
    Git { repo: String, range: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSpec {
    pub name: String,
    pub source: SeriesSource,
    pub kernels: Vec<String>,
    pub configs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub file: PathBuf,
    pub name: String,
    pub kernels: Vec<Kernel>,
    pub configs: Vec<ConfigSet>,
    pub series: Vec<SeriesSpec>,
    pub static_: StaticSettings,
    pub suite: SuiteSettings,
    pub boot: BootSettings,
    pub build: BuildSettings,
}

/// One unit of work: a series (or none: the baselines only) on one kernel and
/// config. The id is stable and safe as a directory name.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub series: String,
    pub kernel: String,
    pub config: String,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = offset
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map(|p| p + 1)
            .unwrap_or(0)
        + 1;
    (line, col)
}

pub fn safe_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Plan {
    pub fn load(path: &Path) -> Result<Plan, PlanError> {
        let text = std::fs::read_to_string(path).map_err(|e| PlanError {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            key: "(file)".into(),
            message: format!("cannot read the plan: {e}"),
        })?;
        Plan::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Plan, PlanError> {
        let file = path.display().to_string();
        let err_at = |span: Option<std::ops::Range<usize>>, key: &str, message: String| {
            let (line, column) = span.map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            PlanError {
                file: file.clone(),
                line,
                column,
                key: key.to_string(),
                message,
            }
        };
        let raw: RawPlan = toml::from_str(text).map_err(|e| {
            let msg = e.message().trim().to_string();
            let key = e
                .span()
                .map(|sp| key_path_at(text, sp.start, &msg))
                .unwrap_or_else(|| "(syntax)".into());
            err_at(e.span(), &key, msg)
        })?;
        if raw.is_empty() {
            // An empty plan would run the built-in default (a Debian 6.12
            // build and boot): a truncated or wrong file must not do that.
            return Err(err_at(
                None,
                "(file)",
                "the plan is empty: name at least the plan (`name = ...`), its kernels or its series".into(),
            ));
        }
        // Every path of the plan is resolved here, once, against the plan
        // file's directory made absolute: later steps run git and the
        // subcommands in other working directories (`--plan plan.toml` with
        // `tree = "linux"` must not become `linux/linux`).
        let base = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(p) => std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()),
            None => std::env::current_dir().unwrap_or_default(),
        };
        let resolve = |p: &str| -> PathBuf {
            let pb = PathBuf::from(p);
            if pb.is_absolute() {
                pb
            } else {
                base.join(pb)
            }
        };

        let mut kernels = Vec::new();
        for (ki, k) in raw.kernels.iter().enumerate() {
            let key = |field: &str| format!("kernel[{ki}].{field}");
            let name = k.name.get_ref().clone();
            if name.is_empty() || kernels.iter().any(|x: &Kernel| x.name == name) {
                return Err(err_at(
                    Some(k.name.span()),
                    &key("name"),
                    format!("kernel name `{name}` is empty or used twice"),
                ));
            }
            let source = match (&k.tree, &k.repo, &k.git_ref) {
                (Some(t), None, None) => {
                    let t = t.get_ref();
                    if t.starts_with("debian:") {
                        KernelSource::Tree { tree: t.clone() }
                    } else {
                        KernelSource::Tree { tree: resolve(t).display().to_string() }
                    }
                }
                (None, Some(r), Some(g)) => {
                    let r = r.get_ref();
                    let repo = if r.contains("://") || r.starts_with("git@") { r.clone() } else { resolve(r).display().to_string() };
                    KernelSource::Git { repo, git_ref: g.get_ref().clone() }
                }
                (None, Some(r), None) => return Err(err_at(Some(r.span()), &key("ref"), format!("kernel `{name}`: `repo` needs a `ref`"))),
                _ => {
                    return Err(err_at(
                        Some(k.name.span()),
                        &key("tree"),
                        format!("kernel `{name}`: give either `tree` (debian:6.12 or a directory) or `repo` and `ref`"),
                    ))
                }
            };
            kernels.push(Kernel { name, source });
        }
        if kernels.is_empty() {
            kernels.push(Kernel {
                name: "debian-6.12".into(),
                source: KernelSource::Tree {
                    tree: "debian:6.12".into(),
                },
            });
        }

        let mut configs = Vec::new();
        for (ci, c) in raw.configs.iter().enumerate() {
            let key = |field: &str| format!("config[{ci}].{field}");
            let name = c.name.get_ref().clone();
            if name.is_empty() || configs.iter().any(|x: &ConfigSet| x.name == name) {
                return Err(err_at(
                    Some(c.name.span()),
                    &key("name"),
                    format!("config name `{name}` is empty or used twice"),
                ));
            }
            if c.fragments.is_empty() {
                return Err(err_at(
                    Some(c.name.span()),
                    &key("fragments"),
                    format!("config `{name}`: no fragments"),
                ));
            }
            configs.push(ConfigSet {
                name,
                fragments: c.fragments.clone(),
            });
        }
        if configs.is_empty() {
            configs.push(ConfigSet {
                name: "default".into(),
                fragments: vec!["virtme-base".into(), "stall-debug".into()],
            });
        }

        let mut series = Vec::new();
        for (si, s) in raw.series.iter().enumerate() {
            let key = |field: &str| format!("series[{si}].{field}");
            let name = s.name.get_ref().clone();
            if name.is_empty()
                || name == "baseline"
                || series.iter().any(|x: &SeriesSpec| x.name == name)
            {
                return Err(err_at(
                    Some(s.name.span()),
                    &key("name"),
                    format!("series name `{name}` is empty, reserved or used twice"),
                ));
            }
            let source = match (&s.mbox, &s.dir, &s.git) {
                (Some(m), None, None) => {
                    let p = resolve(m.get_ref());
                    if !p.is_file() {
                        return Err(err_at(Some(m.span()), &key("mbox"), format!("series `{name}`: {} is not a file", p.display())));
                    }
                    SeriesSource::Mbox { path: p }
                }
                (None, Some(d), None) => {
                    let p = resolve(d.get_ref());
                    if !p.is_dir() {
                        return Err(err_at(Some(d.span()), &key("dir"), format!("series `{name}`: {} is not a directory", p.display())));
                    }
                    SeriesSource::Dir { path: p }
                }
                (None, None, Some(g)) => {
                    let gr = g.get_ref();
                    if !gr.range.contains("..") {
                        return Err(err_at(Some(g.span()), &key("git.range"), format!("series `{name}`: range `{}` is not A..B", gr.range)));
                    }
                    let repo = if gr.repo.contains("://") { gr.repo.clone() } else { resolve(&gr.repo).display().to_string() };
                    SeriesSource::Git { repo, range: gr.range.clone() }
                }
                _ => {
                    return Err(err_at(
                        Some(s.name.span()),
                        &key("mbox"),
                        format!("series `{name}`: give exactly one of `mbox`, `dir` or `git = {{ repo, range }}`"),
                    ))
                }
            };
            let pick = |list: &Option<Spanned<Vec<String>>>,
                        known: &[String],
                        key: &str|
             -> Result<Vec<String>, PlanError> {
                match list {
                    None => Ok(known.to_vec()),
                    Some(l) => {
                        for n in l.get_ref() {
                            if !known.contains(n) {
                                return Err(err_at(
                                    Some(l.span()),
                                    &format!("series[{si}].{key}"),
                                    format!(
                                        "series `{name}`: no {} named `{n}` (known: {})",
                                        key,
                                        known.join(", ")
                                    ),
                                ));
                            }
                        }
                        Ok(l.get_ref().clone())
                    }
                }
            };
            let knames: Vec<String> = kernels.iter().map(|k| k.name.clone()).collect();
            let cnames: Vec<String> = configs.iter().map(|c| c.name.clone()).collect();
            let ks = pick(&s.kernels, &knames, "kernels")?;
            let cs = pick(&s.configs, &cnames, "configs")?;
            series.push(SeriesSpec {
                name,
                source,
                kernels: ks,
                configs: cs,
            });
        }
        if let Some(m) = &raw.manifest {
            let mpath = resolve(m.get_ref());
            let mtext = std::fs::read_to_string(&mpath).map_err(|e| {
                err_at(
                    Some(m.span()),
                    "manifest",
                    format!("{}: {e}", mpath.display()),
                )
            })?;
            let mfile = mpath.display().to_string();
            let merr = |span: Option<std::ops::Range<usize>>, key: &str, message: String| {
                let (line, column) = span.map(|s| line_col(&mtext, s.start)).unwrap_or((1, 1));
                PlanError {
                    file: mfile.clone(),
                    line,
                    column,
                    key: key.to_string(),
                    message,
                }
            };
            #[derive(Deserialize)]
            struct Manifest {
                #[serde(default)]
                series: Vec<ManifestSeries>,
            }
            #[derive(Deserialize)]
            struct ManifestSeries {
                name: Spanned<String>,
                path: Spanned<String>,
            }
            let man: Manifest = toml::from_str(&mtext).map_err(|e| {
                let msg = e.message().trim().to_string();
                let key = e
                    .span()
                    .map(|sp| key_path_at(&mtext, sp.start, &msg))
                    .unwrap_or_else(|| "(syntax)".into());
                merr(e.span(), &key, msg)
            })?;
            let mdir = mpath.parent().map(Path::to_path_buf).unwrap_or_default();
            for (mi, ms) in man.series.into_iter().enumerate() {
                let name = ms.name.get_ref().clone();
                if name.is_empty()
                    || name == "baseline"
                    || series.iter().any(|x: &SeriesSpec| x.name == name)
                {
                    return Err(merr(
                        Some(ms.name.span()),
                        &format!("series[{mi}].name"),
                        format!("series name `{name}` is empty, reserved or already in the plan"),
                    ));
                }
                let p = mdir.join(ms.path.get_ref());
                let source = if p.is_dir() {
                    SeriesSource::Dir { path: p }
                } else if p.is_file() {
                    SeriesSource::Mbox { path: p }
                } else {
                    return Err(merr(
                        Some(ms.path.span()),
                        &format!("series[{mi}].path"),
                        format!("series `{name}`: {} does not exist", p.display()),
                    ));
                };
                series.push(SeriesSpec {
                    name,
                    source,
                    kernels: kernels.iter().map(|k| k.name.clone()).collect(),
                    configs: configs.iter().map(|c| c.name.clone()).collect(),
                });
            }
        }
        let suite = raw.suite.unwrap_or_default();
        // Written so that NaN is refused too (NaN >= 0.0 is false).
        let non_negative = |x: f64| x >= 0.0;
        if !non_negative(suite.ratio_tolerance) || !non_negative(suite.ratio_floor) {
            return Err(err_at(
                None,
                "suite.ratio_tolerance",
                "ratio_tolerance and ratio_floor must be numbers ≥ 0".into(),
            ));
        }
        Ok(Plan {
            file: path.to_path_buf(),
            name: raw.name.unwrap_or_else(|| "nightly".into()),
            kernels,
            configs,
            series,
            static_: raw.static_.unwrap_or_default(),
            suite,
            boot: raw.boot.unwrap_or_default(),
            build: raw.build.unwrap_or_default(),
        })
    }

    /// Every job: per kernel × config one `baseline` job (so a night with no
    /// series still measures the kernels), then series × kernel × config.
    pub fn jobs(&self) -> Vec<Job> {
        let mut jobs = Vec::new();
        for k in &self.kernels {
            for c in &self.configs {
                jobs.push(Job::new("baseline", &k.name, &c.name));
            }
        }
        for s in &self.series {
            for k in &s.kernels {
                for c in &s.configs {
                    jobs.push(Job::new(&s.name, k, c));
                }
            }
        }
        jobs
    }

    pub fn kernel(&self, name: &str) -> Option<&Kernel> {
        self.kernels.iter().find(|k| k.name == name)
    }
    pub fn config(&self, name: &str) -> Option<&ConfigSet> {
        self.configs.iter().find(|c| c.name == name)
    }
    pub fn series_spec(&self, name: &str) -> Option<&SeriesSpec> {
        self.series.iter().find(|s| s.name == name)
    }
}

impl Job {
    pub fn new(series: &str, kernel: &str, config: &str) -> Job {
        Job {
            id: format!(
                "{}--{}--{}",
                safe_name(series),
                safe_name(kernel),
                safe_name(config)
            ),
            series: series.into(),
            kernel: kernel.into(),
            config: config.into(),
        }
    }
    pub fn is_baseline(&self) -> bool {
        self.series == "baseline"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Plan, PlanError> {
        Plan::parse(t, Path::new("/nonexistent/plan.toml"))
    }

    #[test]
    fn defaults() {
        let p = parse("name = \"n\"\n").unwrap();
        assert_eq!(
            p.kernels[0].source,
            KernelSource::Tree {
                tree: "debian:6.12".into()
            }
        );
        assert_eq!(p.configs[0].fragments, vec!["virtme-base", "stall-debug"]);
        assert_eq!(p.jobs().len(), 1);
        assert!(p.jobs()[0].is_baseline());
    }

    #[test]
    fn unknown_key_names_file_line_key() {
        let e =
            parse("name = \"x\"\n\n[[kernel]]\nname = \"a\"\ntree = \"debian:6.12\"\nmood = 3\n")
                .unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (6, "kernel[0].mood"), "{e}");
        assert!(
            e.to_string().starts_with("/nonexistent/plan.toml:6:"),
            "{e}"
        );
    }

    #[test]
    fn missing_series_file_points_at_its_line() {
        let e = parse("[[series]]\nname = \"s\"\nmbox = \"nope.mbox\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (3, "series[0].mbox"), "{e}");
    }

    #[test]
    fn unknown_kernel_in_series() {
        let e = parse("[[kernel]]\nname = \"a\"\ntree = \"debian:6.12\"\n[[series]]\nname = \"s\"\ngit = { repo = \".\", range = \"a..b\" }\nkernels = [\"b\"]\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (7, "series[0].kernels"), "{e}");
    }

    #[test]
    fn syntax_error_has_a_line() {
        let e = parse("[[kernel]\n").unwrap_err();
        assert_eq!(e.line, 1, "{e}");
    }

    #[test]
    fn manifest_series_and_errors_in_the_manifest() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("patches/one")).unwrap();
        std::fs::write(d.path().join("patches/manifest.toml"), "# c\n[[series]]\nname = \"one\"\npath = \"one\"\nbase = \"debian:6.12\"\n[[series.expect]]\ntest = \"t\"\n").unwrap();
        let plan = d.path().join("ci/nightly.toml");
        std::fs::create_dir_all(plan.parent().unwrap()).unwrap();
        let p = Plan::parse("manifest = \"../patches/manifest.toml\"\n", &plan).unwrap();
        assert_eq!(p.series.len(), 1);
        assert_eq!(
            p.series[0].source,
            SeriesSource::Dir {
                path: d.path().join("ci/../patches/one")
            }
        );
        std::fs::write(
            d.path().join("patches/manifest.toml"),
            "[[series]]\nname = \"two\"\npath = \"two\"\n",
        )
        .unwrap();
        let e = Plan::parse("manifest = \"../patches/manifest.toml\"\n", &plan).unwrap_err();
        assert!(
            e.file.ends_with("manifest.toml") && e.line == 3 && e.key == "series[0].path",
            "{e}"
        );
        let e = Plan::parse("\nmanifest = \"../nope.toml\"\n", &plan).unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (2, "manifest"), "{e}");
    }

    /// Item 1: `--plan plan.toml` (no directory) with `tree = "linux"`:
    /// every path comes out absolute, so git and the subcommands get the
    /// same tree whatever their working directory.
    #[test]
    fn a_relative_plan_gives_absolute_paths() {
        let cwd = std::env::current_dir().unwrap();
        let p = Plan::parse(
            "[[kernel]]\nname = \"k\"\ntree = \"linux\"\n[[kernel]]\nname = \"g\"\nrepo = \"repo\"\nref = \"main\"\n[[series]]\nname = \"s\"\ngit = { repo = \"repo\", range = \"a..b\" }\n",
            Path::new("plan.toml"),
        )
        .unwrap();
        assert_eq!(
            p.kernels[0].source,
            KernelSource::Tree {
                tree: cwd.join("linux").display().to_string()
            }
        );
        assert_eq!(
            p.kernels[1].source,
            KernelSource::Git {
                repo: cwd.join("repo").display().to_string(),
                git_ref: "main".into()
            }
        );
    }

    #[test]
    fn empty_plans_are_refused() {
        for text in ["", "\n\n", "# only a comment\n"] {
            let e = parse(text).unwrap_err();
            assert_eq!((e.line, e.key.as_str()), (1, "(file)"), "{e}");
            assert!(e.to_string().contains("the plan is empty"), "{e}");
        }
    }

    /// Keys in errors as the user wrote them, at the key's or value's line
    /// (toml's own messages used to leave `5` or `.` as the key).
    #[test]
    fn keys_are_named_with_their_index() {
        let k = |t: &str| {
            let e = parse(t).unwrap_err();
            (e.line, e.key.clone(), e.to_string())
        };
        let (line, key, msg) = k("name = \"x\"\n[[kernel]]\nname = \"a\"\ntree = \"debian:6.12\"\n[[kernel]]\nname = 5\n");
        assert_eq!((line, key.as_str()), (6, "kernel[1].name"), "{msg}");
        let (line, key, msg) = k("[[series]]\nname = \"a\"\nmbox = \"/dev/null\"\n\n[[series]]\nname = \"b\"\ngit = { repo = 5, range = \"a..b\" }\n");
        assert_eq!((line, key.as_str()), (7, "series[1].git.repo"), "{msg}");
        let (line, key, msg) = k("[static]\npaths = \"mm\"\n");
        assert_eq!((line, key.as_str()), (2, "static.paths"), "{msg}");
        let (line, key, msg) = k("[[config]]\nname = \"c\"\nfragments = [\"a\"]\nmood = 1\n");
        assert_eq!((line, key.as_str()), (4, "config[0].mood"), "{msg}");
        let (_, key, msg) = k("[[kernel]]\ntree = \"debian:6.12\"\n");
        assert_eq!(key, "kernel[0].name", "{msg}");
        let (line, key, msg) = k("[[series]]\nname = \"a\"\nmbox = \"a\"\n[[series]]\nname = \"b\"\nmbox = \"nope.mbox\"\n");
        assert_eq!((line, key.as_str()), (3, "series[0].mbox"), "{msg}");
        assert!(msg.contains("plan.toml:3:8: series[0].mbox:"), "{msg}");
    }

    #[test]
    fn repo_needs_ref() {
        let e = parse("[[kernel]]\nname = \"a\"\nrepo = \"/x\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (3, "kernel[0].ref"));
    }

    #[test]
    fn jobs_are_series_x_kernel_x_config() {
        let p = parse("[[kernel]]\nname=\"a\"\ntree=\"debian:6.12\"\n[[kernel]]\nname=\"b\"\nrepo=\"/r\"\nref=\"v6.12\"\n[[config]]\nname=\"c1\"\nfragments=[\"virtme-base\"]\n[[config]]\nname=\"c2\"\nfragments=[\"lockdep\"]\n[[series]]\nname=\"s\"\ngit={repo=\"/r\", range=\"a..b\"}\n").unwrap();
        let ids: Vec<String> = p.jobs().into_iter().map(|j| j.id).collect();
        assert_eq!(ids.len(), 8);
        assert!(ids.contains(&"s--b--c2".to_string()));
    }
}
