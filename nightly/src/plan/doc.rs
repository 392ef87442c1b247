//! The sections of a plan file, each checked and resolved on its own: the
//! steps of [`Plan::parse`](super::Plan::parse).

use super::parts::{ConfigSet, Kernel, KernelSource, PlanError, SeriesSource, SeriesSpec};
use super::raw::{key_path_at, line_col, RawConfig, RawKernel, RawSeries};
use super::settings::KselftestSettings;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// One TOML document being read (the plan, or the manifest it names): its
/// text for error positions, its file for messages, and the directory its
/// relative paths are resolved against.
pub(super) struct Doc<'a> {
    text: &'a str,
    file: String,
    base: PathBuf,
}

impl<'a> Doc<'a> {
    pub(super) fn new(text: &'a str, path: &Path) -> Doc<'a> {
        // Every path of the plan is resolved here, once, against the plan
        // file's directory made absolute: later steps run git and the
        // subcommands in other working directories (`--plan plan.toml` with
        // `tree = "linux"` must not become `linux/linux`).
        let base = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(p) => std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()),
            None => std::env::current_dir().unwrap_or_default(),
        };
        Doc {
            text,
            file: path.display().to_string(),
            base,
        }
    }

    pub(super) fn err_at(
        &self,
        span: Option<std::ops::Range<usize>>,
        key: &str,
        message: String,
    ) -> PlanError {
        let (line, column) = span.map(|s| line_col(self.text, s.start)).unwrap_or((1, 1));
        PlanError {
            file: self.file.clone(),
            line,
            column,
            key: key.to_string(),
            message,
        }
    }

    /// A TOML syntax or shape error, at the key it is about.
    pub(super) fn toml_error(&self, e: &toml::de::Error) -> PlanError {
        let msg = e.message().trim().to_string();
        let key = e
            .span()
            .map(|sp| key_path_at(self.text, sp.start, &msg))
            .unwrap_or_else(|| "(syntax)".into());
        self.err_at(e.span(), &key, msg)
    }

    fn resolve(&self, p: &str) -> PathBuf {
        let pb = PathBuf::from(p);
        if pb.is_absolute() {
            pb
        } else {
            self.base.join(pb)
        }
    }

    pub(super) fn kernels(&self, raw: &[RawKernel]) -> Result<Vec<Kernel>, PlanError> {
        let mut kernels = Vec::new();
        for (ki, k) in raw.iter().enumerate() {
            let key = |field: &str| format!("kernel[{ki}].{field}");
            let name = k.name.get_ref().clone();
            if name.is_empty() || kernels.iter().any(|x: &Kernel| x.name == name) {
                return Err(self.err_at(
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
                        KernelSource::Tree { tree: self.resolve(t).display().to_string() }
                    }
                }
                (None, Some(r), Some(g)) => {
                    let r = r.get_ref();
                    let repo = if r.contains("://") || r.starts_with("git@") { r.clone() } else { self.resolve(r).display().to_string() };
                    KernelSource::Git { repo, git_ref: g.get_ref().clone() }
                }
                (None, Some(r), None) => return Err(self.err_at(Some(r.span()), &key("ref"), format!("kernel `{name}`: `repo` needs a `ref`"))),
                _ => {
                    return Err(self.err_at(
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

        Ok(kernels)
    }

    pub(super) fn configs(&self, raw: &[RawConfig]) -> Result<Vec<ConfigSet>, PlanError> {
        let mut configs = Vec::new();
        for (ci, c) in raw.iter().enumerate() {
            let key = |field: &str| format!("config[{ci}].{field}");
            let name = c.name.get_ref().clone();
            if name.is_empty() || configs.iter().any(|x: &ConfigSet| x.name == name) {
                return Err(self.err_at(
                    Some(c.name.span()),
                    &key("name"),
                    format!("config name `{name}` is empty or used twice"),
                ));
            }
            if c.fragments.is_empty() {
                return Err(self.err_at(
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

        Ok(configs)
    }

    /// The plan's `[[series]]`; `kernels`/`configs` they name must exist
    /// (none named: all of them).
    pub(super) fn series(
        &self,
        raw: &[RawSeries],
        kernels: &[Kernel],
        configs: &[ConfigSet],
    ) -> Result<Vec<SeriesSpec>, PlanError> {
        let mut series = Vec::new();
        for (si, s) in raw.iter().enumerate() {
            let key = |field: &str| format!("series[{si}].{field}");
            let name = s.name.get_ref().clone();
            if name.is_empty()
                || name == "baseline"
                || series.iter().any(|x: &SeriesSpec| x.name == name)
            {
                return Err(self.err_at(
                    Some(s.name.span()),
                    &key("name"),
                    format!("series name `{name}` is empty, reserved or used twice"),
                ));
            }
            let source = match (&s.mbox, &s.dir, &s.git) {
                (Some(m), None, None) => {
                    let p = self.resolve(m.get_ref());
                    if !p.is_file() {
                        return Err(self.err_at(Some(m.span()), &key("mbox"), format!("series `{name}`: {} is not a file", p.display())));
                    }
                    SeriesSource::Mbox { path: p }
                }
                (None, Some(d), None) => {
                    let p = self.resolve(d.get_ref());
                    if !p.is_dir() {
                        return Err(self.err_at(Some(d.span()), &key("dir"), format!("series `{name}`: {} is not a directory", p.display())));
                    }
                    SeriesSource::Dir { path: p }
                }
                (None, None, Some(g)) => {
                    let gr = g.get_ref();
                    if !gr.range.contains("..") {
                        return Err(self.err_at(Some(g.span()), &key("git.range"), format!("series `{name}`: range `{}` is not A..B", gr.range)));
                    }
                    let repo = if gr.repo.contains("://") { gr.repo.clone() } else { self.resolve(&gr.repo).display().to_string() };
                    SeriesSource::Git { repo, range: gr.range.clone() }
                }
                _ => {
                    return Err(self.err_at(
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
                                return Err(self.err_at(
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
        Ok(series)
    }

    /// A regression-series manifest's `[[series]]` (`name`, `path` relative
    /// to the manifest), each on every kernel and config.
    pub(super) fn manifest_series(
        &self,
        m: &Spanned<String>,
        kernels: &[Kernel],
        configs: &[ConfigSet],
        series: &mut Vec<SeriesSpec>,
    ) -> Result<(), PlanError> {
        let mpath = self.resolve(m.get_ref());
        let mtext = std::fs::read_to_string(&mpath).map_err(|e| {
            self.err_at(
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
        Ok(())
    }

    /// `[kselftest]`: the selection must name known tests, the timeout be
    /// positive; `enabled = false` is the same as no table.
    pub(super) fn kselftest(
        &self,
        raw: Option<&Spanned<KselftestSettings>>,
    ) -> Result<Option<KselftestSettings>, PlanError> {
        let Some(k) = raw else { return Ok(None) };
        let table = k.span();
        // The line of `key = ...` inside the table (else the table's header).
        let at = |key: &str| {
            let body = self.text.get(table.clone()).unwrap_or("");
            let mut offset = table.start;
            for line in body.split_inclusive('\n') {
                let t = line.trim_start();
                if t.strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
                {
                    let start = offset + (line.len() - t.len());
                    return Some(start..start + key.len());
                }
                offset += line.len();
            }
            Some(table.clone())
        };
        let k = k.get_ref().clone();
        if !k.enabled {
            return Ok(None);
        }
        if let Err(e) = mmstall_vm::kselftest::select(&k.tests.spec()) {
            return Err(self.err_at(at("tests"), "kselftest.tests", e.to_string()));
        }
        if k.timeout_secs == 0 {
            return Err(self.err_at(
                at("timeout_secs"),
                "kselftest.timeout_secs",
                "must be positive".into(),
            ));
        }
        Ok(Some(k))
    }
}
