//! `mmstall doctor`: what the harness needs, what is installed (with
//! versions), whether KVM really runs guests, and disk space in the cache.

use crate::boot::virtiofsd_version;
use crate::cache::Cache;
use crate::kvm;
use crate::process::{self, which};
use serde::Serialize;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    /// Needed for building/booting (a failed required check makes doctor fail).
    pub required: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
    pub kvm_probe: Option<kvm::ProbeRecord>,
    pub accel: String,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok || !c.required)
    }
}

fn first_line_of(cmd: &str, args: &[&str]) -> Option<String> {
    let out = process::output(Command::new(cmd).args(args)).ok()?;
    let mut s = out.stdout;
    if s.trim().is_empty() {
        s = out.stderr;
    }
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

fn tool(name: &str, version_args: &[&str], required: bool, hint: &str) -> Check {
    match which(name) {
        Some(p) => Check {
            name: name.into(),
            ok: true,
            required,
            detail: format!(
                "{} ({})",
                first_line_of(name, version_args).unwrap_or_else(|| "version unknown".into()),
                p.display()
            ),
        },
        None => Check {
            name: name.into(),
            ok: false,
            required,
            detail: format!("not found: {hint}"),
        },
    }
}

/// Free space (bytes) on the filesystem holding `path` (or its nearest existing parent).
pub fn free_bytes(path: &Path) -> Option<u64> {
    let mut p = path.to_path_buf();
    while !p.exists() {
        p = p.parent()?.to_path_buf();
    }
    let out = process::output(Command::new("df").args(["-Pk"]).arg(&p)).ok()?;
    parse_df_avail_kb(&out.stdout).map(|kb| kb * 1024)
}

/// The "Available" column (KiB) of `df -Pk` output.
pub fn parse_df_avail_kb(text: &str) -> Option<u64> {
    let line = text.lines().nth(1)?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// A kernel to probe KVM with: the newest finished build in the cache.
pub fn newest_kernel(cache: &Cache) -> Option<std::path::PathBuf> {
    let rd = std::fs::read_dir(cache.builds()).ok()?;
    rd.filter_map(Result::ok)
        .map(|e| e.path().join("bzImage"))
        .filter(|p| p.is_file() && p.parent().is_some_and(|d| d.join("meta.json").is_file()))
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
}

/// Runs every check. `probe_timeout` bounds the KVM probe boot.
pub fn run(cache: &Cache, probe_kernel: Option<&Path>, probe_timeout: Duration) -> Report {
    let mut checks = tool_checks();
    checks.extend(header_checks());
    checks.push(virtiofsd_check());
    checks.push(tree_check(cache));
    checks.push(disk_check(cache));
    let dev = kvm::dev_kvm_usable();
    checks.push(Check {
        name: "/dev/kvm".into(),
        ok: dev,
        required: false,
        detail: if dev {
            "present and writable".into()
        } else {
            "missing or not writable: guests run under TCG (slower)".into()
        },
    });
    let mut probe_rec = None;
    if dev {
        let (check, rec) = kvm_probe_check(cache, probe_kernel, probe_timeout);
        checks.push(check);
        probe_rec = rec;
    }
    let (accel, why) = kvm::decide(
        kvm::AccelChoice::Auto,
        dev,
        probe_rec.as_ref().map(|r| &r.verdict),
    );
    Report {
        checks,
        kvm_probe: probe_rec,
        accel: format!("{accel:?}: {why}"),
    }
}

const SETUP_HINT: &str = "run scripts/setup.sh";

/// The programs builds and boots run, with their versions.
fn tool_checks() -> Vec<Check> {
    let hint = SETUP_HINT;
    vec![
        tool("make", &["--version"], true, hint),
        tool("gcc", &["--version"], true, hint),
        tool("flex", &["--version"], true, hint),
        tool("bison", &["--version"], true, hint),
        tool("bc", &["--version"], true, hint),
        tool("cpio", &["--version"], true, hint),
        tool(
            "pahole",
            &["--version"],
            false,
            "dwarves (only needed for BTF configs)",
        ),
        tool(
            "ccache",
            &["--version"],
            false,
            "without it every build compiles from scratch",
        ),
        tool("qemu-system-x86_64", &["--version"], true, hint),
        tool(
            "vng",
            &["--version"],
            true,
            "pip install virtme-ng (scripts/setup.sh)",
        ),
        tool(
            "udevadm",
            &["--version"],
            true,
            "install udev: vng loses the guest's output without it",
        ),
        tool(
            "busybox",
            &["--help"],
            false,
            "busybox-static (used by virtme-ng's fallback init)",
        ),
    ]
}

/// The development headers a kernel build needs.
fn header_checks() -> Vec<Check> {
    [
        ("/usr/include/libelf.h", "libelf-dev"),
        ("/usr/include/openssl/ssl.h", "libssl-dev"),
    ]
    .into_iter()
    .map(|(h, pkg)| {
        let ok = Path::new(h).is_file();
        Check {
            name: pkg.into(),
            ok,
            required: true,
            detail: if ok {
                format!("{h} present")
            } else {
                format!("{h} missing: {SETUP_HINT}")
            },
        }
    })
    .collect()
}

/// Whether runs can use virtio-fs (never required: 9p otherwise).
fn virtiofsd_check() -> Check {
    let vfs = virtiofsd_version();
    Check {
        name: "virtiofsd".into(),
        ok: true,
        required: false,
        detail: match &vfs {
            Some(v)
                if crate::boot::virtiofs_usable(
                    Some("CONFIG_VIRTIO_FS=y\nCONFIG_FUSE_FS=y\n"),
                    Some(v),
                ) =>
            {
                format!("{v}: usable")
            }
            Some(v) => format!("{v}: not accepted by vng, runs use --force-9p"),
            None => "absent: runs use --force-9p".into(),
        },
    }
}

/// Debian's 6.12 tree in the cache.
fn tree_check(cache: &Cache) -> Check {
    let src = cache.debian_src("6.12");
    let src_ok = src.join("Makefile").is_file();
    Check {
        name: "debian:6.12 tree".into(),
        ok: src_ok,
        required: false,
        detail: if src_ok {
            format!(
                "{} ({})",
                src.display(),
                crate::tree::kernel_version(&src).unwrap_or_else(|e| e.to_string())
            )
        } else {
            format!("{} missing: {SETUP_HINT}", src.display())
        },
    }
}

/// Free space under the cache root.
fn disk_check(cache: &Cache) -> Check {
    let free = free_bytes(&cache.root);
    let need = 8u64 << 30;
    Check {
        name: "disk space".into(),
        ok: free.is_some_and(|f| f >= need),
        required: true,
        detail: match free {
            Some(f) => format!("{:.1} GiB free under {} (a baseline build + scratch copy + ccache take ~3 GiB; 8 GiB wanted)", f as f64 / (1u64 << 30) as f64, cache.root.display()),
            None => format!("cannot tell free space under {}", cache.root.display()),
        },
    }
}

/// A forced KVM probe boot of `probe_kernel` (or the newest build).
fn kvm_probe_check(
    cache: &Cache,
    probe_kernel: Option<&Path>,
    probe_timeout: Duration,
) -> (Check, Option<kvm::ProbeRecord>) {
    let kernel = probe_kernel
        .map(Path::to_path_buf)
        .or_else(|| newest_kernel(cache));
    let check = |ok, detail| Check {
        name: "KVM probe boot".into(),
        ok,
        required: false,
        detail,
    };
    match kernel {
        Some(k) => match kvm::probe_cached(cache, &k, probe_timeout, true) {
            Ok(r) => {
                let c = check(
                    r.verdict == kvm::Verdict::Works,
                    format!("{} ({:.1} s, {})", r.verdict, r.secs, k.display()),
                );
                (c, Some(r))
            }
            Err(e) => (check(false, e), None),
        },
        None => (
            check(
                false,
                "no kernel built yet to probe with (mmstall vm build first)".into(),
            ),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_df() {
        let out = "Filesystem     1024-blocks      Used Available Capacity Mounted on\n/dev/vda         263174212  14000000  80000000      16% /\n";
        assert_eq!(parse_df_avail_kb(out), Some(80_000_000));
        assert_eq!(parse_df_avail_kb("garbage"), None);
        assert_eq!(parse_df_avail_kb("h\na b c notanumber\n"), None);
    }

    #[test]
    fn report_fails_only_on_required_checks() {
        let c = |ok, required| Check {
            name: "x".into(),
            ok,
            required,
            detail: String::new(),
        };
        let r = Report {
            checks: vec![c(true, true), c(false, false)],
            kvm_probe: None,
            accel: String::new(),
        };
        assert!(r.ok());
        let r = Report {
            checks: vec![c(false, true)],
            kvm_probe: None,
            accel: String::new(),
        };
        assert!(!r.ok());
    }
}
