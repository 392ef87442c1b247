//! The nightly plan (`ci/nightly.toml`): kernel trees, config sets, series,
//! the static and dynamic settings. Every error names the plan file, the line
//! and the key.

mod doc;
mod parts;
mod raw;
mod settings;

pub use parts::{ConfigSet, Kernel, KernelSource, PlanError, SeriesSource, SeriesSpec};
pub use settings::{
    BootSettings, BuildSettings, ConfirmSettings, KselftestSettings, SelftestList, StaticSettings,
    SuiteSettings,
};

use doc::Doc;
use raw::RawPlan;
use std::path::{Path, PathBuf};

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
    /// The mm selftests (`[kselftest]`); `None`: not run.
    pub kselftest: Option<KselftestSettings>,
    /// Hold measurement of introduced findings (`[confirm]`, off by default).
    pub confirm: ConfirmSettings,
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

    /// Reads the plan text: the TOML, then each section in the order it
    /// depends on (kernels, configs, series naming both, the manifest's
    /// series, the settings). Every error names the file, line and key.
    pub fn parse(text: &str, path: &Path) -> Result<Plan, PlanError> {
        let doc = Doc::new(text, path);
        let raw: RawPlan = toml::from_str(text).map_err(|e| doc.toml_error(&e))?;
        if raw.is_empty() {
            // An empty plan would run the built-in default (a Debian 6.12
            // build and boot): a truncated or wrong file must not do that.
            return Err(doc.err_at(
                None,
                "(file)",
                "the plan is empty: name at least the plan (`name = ...`), its kernels or its series".into(),
            ));
        }
        let kernels = doc.kernels(&raw.kernels)?;
        let configs = doc.configs(&raw.configs)?;
        let mut series = doc.series(&raw.series, &kernels, &configs)?;
        if let Some(m) = &raw.manifest {
            doc.manifest_series(m, &kernels, &configs, &mut series)?;
        }
        let suite = raw.suite.unwrap_or_default();
        // Written so that NaN is refused too (NaN >= 0.0 is false).
        let non_negative = |x: f64| x >= 0.0;
        if !non_negative(suite.ratio_tolerance) || !non_negative(suite.ratio_floor) {
            return Err(doc.err_at(
                None,
                "suite.ratio_tolerance",
                "ratio_tolerance and ratio_floor must be numbers ≥ 0".into(),
            ));
        }
        let kselftest = doc.kselftest(raw.kselftest.as_ref())?;
        let confirm = raw.confirm.unwrap_or_default();
        if confirm.sizes.len() < 2
            || confirm.sizes.contains(&0)
            || confirm.repeat == 0
            || confirm.timeout_secs == 0
            || confirm.threshold_ms.is_nan()
            || confirm.threshold_ms <= 0.0
        {
            return Err(doc.err_at(
                None,
                "confirm.sizes",
                "[confirm] needs at least two sizes > 0 (MiB), repeat, timeout_secs and threshold_ms > 0".into(),
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
            kselftest,
            confirm,
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
