//! Does KVM really run guests here? `/dev/kvm` existing is not enough (nested
//! virtualization can accept the ioctls and then never run the vCPU), so the
//! probe boots a kernel under `qemu -accel kvm` without a root filesystem and
//! waits, with a timeout, for it to reach the end of boot (the "cannot mount
//! root" panic, or init). The verdict is cached per host boot.

use crate::cache::Cache;
use crate::process;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    Kvm,
    Tcg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccelChoice {
    /// KVM when the probe says it works, TCG otherwise.
    Auto,
    Kvm,
    Tcg,
}

impl std::str::FromStr for AccelChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(AccelChoice::Auto),
            "kvm" | "on" => Ok(AccelChoice::Kvm),
            "tcg" | "off" => Ok(AccelChoice::Tcg),
            _ => Err(format!("--kvm {s}: expected auto, on or off")),
        }
    }
}

/// What a probe boot showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// The kernel booted to the end under KVM.
    Works,
    /// QEMU refused KVM (no module, no permission, ...).
    Unavailable { reason: String },
    /// The guest did not reach the end of boot in time.
    Hangs {
        output_lines: usize,
        last_line: String,
    },
    /// QEMU exited before the kernel got to the end of boot.
    Failed { reason: String },
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Works => f.write_str("KVM runs guests"),
            Verdict::Unavailable { reason } => write!(f, "QEMU cannot use KVM: {reason}"),
            Verdict::Hangs {
                output_lines: 0, ..
            } => f.write_str("the guest hangs under KVM (no console output)"),
            Verdict::Hangs {
                output_lines,
                last_line,
            } => {
                write!(f, "the guest hangs under KVM after {output_lines} console lines (last: {last_line})")
            }
            Verdict::Failed { reason } => write!(f, "probe boot failed: {reason}"),
        }
    }
}

/// Decides from a probe's console output, whether it timed out, and QEMU's stderr.
pub fn verdict(console: &str, stderr: &str, timed_out: bool) -> Verdict {
    let booted = console.contains("Linux version")
        && (console.contains("Unable to mount root")
            || console.contains("No working init found")
            || console.contains("Run /init")
            || console.contains("Freeing unused kernel"));
    if booted {
        return Verdict::Works;
    }
    let err_line = stderr
        .lines()
        .map(str::trim)
        .find(|l| l.contains("KVM") || l.contains("kvm") || l.contains("accel"))
        .filter(|l| !l.contains("warning:"))
        .map(str::to_string);
    if let Some(reason) = err_line {
        if !timed_out {
            return Verdict::Unavailable { reason };
        }
    }
    let lines: Vec<&str> = console.lines().filter(|l| !l.trim().is_empty()).collect();
    if timed_out {
        return Verdict::Hangs {
            output_lines: lines.len(),
            last_line: lines
                .last()
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
        };
    }
    let reason = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.contains("warning:"))
        .unwrap_or("exited early")
        .to_string();
    Verdict::Failed { reason }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub verdict: Verdict,
    pub secs: f64,
    pub kernel: String,
    /// /proc/sys/kernel/random/boot_id when probed: the record is reused until
    /// the host reboots.
    pub boot_id: String,
    pub timeout_secs: u64,
}

/// `/dev/kvm` exists and can be opened read-write.
pub fn dev_kvm_usable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// The accelerator to use, and why.
pub fn decide(choice: AccelChoice, dev_kvm: bool, probe: Option<&Verdict>) -> (Accel, String) {
    match choice {
        AccelChoice::Tcg => (Accel::Tcg, "TCG requested (--kvm off)".into()),
        AccelChoice::Kvm => (Accel::Kvm, "KVM requested (--kvm on)".into()),
        AccelChoice::Auto if !dev_kvm => (Accel::Tcg, "no usable /dev/kvm: using TCG".into()),
        AccelChoice::Auto => match probe {
            Some(Verdict::Works) => (Accel::Kvm, "KVM probe boot succeeded".into()),
            Some(Verdict::Hangs { .. }) => (
                Accel::Tcg,
                "KVM guests hang here (probe boot timed out): using TCG".into(),
            ),
            Some(Verdict::Unavailable { reason }) => (
                Accel::Tcg,
                format!("QEMU cannot use KVM ({reason}): using TCG"),
            ),
            Some(Verdict::Failed { reason }) => (
                Accel::Tcg,
                format!("KVM probe boot failed ({reason}): using TCG"),
            ),
            None => (Accel::Tcg, "KVM not probed: using TCG".into()),
        },
    }
}

/// The one KVM-or-TCG choice every boot makes: with `auto` and a usable
/// `/dev/kvm`, the cached probe of this host boot (or a new probe boot of
/// `kernel`, at most 20 s) decides. A probe that cannot run is reported to
/// `on_probe_error` and counts as no probe (TCG).
pub fn choose(
    choice: AccelChoice,
    cache: &Cache,
    kernel: &Path,
    mut on_probe_error: impl FnMut(&str),
) -> (Accel, String) {
    let dev = dev_kvm_usable();
    let probe = if choice == AccelChoice::Auto && dev {
        match probe_cached(cache, kernel, Duration::from_secs(20), false) {
            Ok(r) => Some(r.verdict),
            Err(e) => {
                on_probe_error(&e);
                None
            }
        }
    } else {
        None
    };
    decide(choice, dev, probe.as_ref())
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Boots `kernel` under KVM with no root filesystem and waits up to `timeout`.
pub fn probe(kernel: &Path, timeout: Duration) -> Result<ProbeRecord, String> {
    let start = Instant::now();
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args([
        "-machine",
        "q35,accel=kvm",
        "-cpu",
        "host",
        "-m",
        "256",
        "-smp",
        "1",
        "-nodefaults",
        "-display",
        "none",
    ])
    .args([
        "-no-reboot",
        "-serial",
        "stdio",
        "-monitor",
        "none",
        "-kernel",
    ])
    .arg(kernel)
    .args(["-append", "console=ttyS0 panic=-1 loglevel=7"]);
    let run = process::output_with_deadline(&mut cmd, timeout)
        .map_err(|e| format!("cannot run qemu-system-x86_64: {e}"))?;
    let (console, stderr, timed_out) = (run.stdout, run.stderr, run.timed_out);
    Ok(ProbeRecord {
        verdict: verdict(&console, &stderr, timed_out),
        secs: start.elapsed().as_secs_f64(),
        kernel: kernel.display().to_string(),
        boot_id: boot_id(),
        timeout_secs: timeout.as_secs(),
    })
}

/// The cached probe record for this host boot, or a new probe (saved).
pub fn probe_cached(
    cache: &Cache,
    kernel: &Path,
    timeout: Duration,
    force: bool,
) -> Result<ProbeRecord, String> {
    let path = cache.kvm_probe();
    if !force {
        if let Some(rec) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| serde_json::from_str::<ProbeRecord>(&s).ok())
        {
            if rec.boot_id == boot_id() && !rec.boot_id.is_empty() {
                return Ok(rec);
            }
        }
    }
    let rec = probe(kernel, timeout)?;
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let _ = std::fs::write(
        &path,
        serde_json::to_string_pretty(&rec).expect("serializes") + "\n",
    );
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOTED: &str = "[    0.000000] Linux version 6.12.0 (x@y) #1 SMP\n[    1.4] VFS: Cannot open root device \"\"\n[    1.5] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n";

    #[test]
    fn verdict_from_probe_output() {
        assert_eq!(verdict(BOOTED, "", false), Verdict::Works);
        // Booted even if we killed it right after (timeout races the panic).
        assert_eq!(verdict(BOOTED, "", true), Verdict::Works);
        // Nothing at all on the console within the timeout: the nested-KVM hang.
        assert_eq!(
            verdict("", "qemu-system-x86_64: warning: host doesn't support requested feature: CPUID.01H:ECX.pni [bit 0]\n", true),
            Verdict::Hangs { output_lines: 0, last_line: String::new() }
        );
        // Stuck half way.
        assert_eq!(
            verdict(
                "[ 0.0] Linux version 6.12\n[ 0.1] smpboot: CPU0\n",
                "",
                true
            ),
            Verdict::Hangs {
                output_lines: 2,
                last_line: "[ 0.1] smpboot: CPU0".into()
            }
        );
        assert_eq!(
            verdict(
                "",
                "qemu-system-x86_64: failed to initialize kvm: Permission denied\n",
                false
            ),
            Verdict::Unavailable {
                reason: "qemu-system-x86_64: failed to initialize kvm: Permission denied".into()
            }
        );
        assert_eq!(
            verdict("", "qemu-system-x86_64: -kernel /x: No such file\n", false),
            Verdict::Failed {
                reason: "qemu-system-x86_64: -kernel /x: No such file".into()
            }
        );
    }

    #[test]
    fn accelerator_decision() {
        let hang = Verdict::Hangs {
            output_lines: 0,
            last_line: String::new(),
        };
        assert_eq!(
            decide(AccelChoice::Auto, true, Some(&Verdict::Works)).0,
            Accel::Kvm
        );
        assert_eq!(decide(AccelChoice::Auto, true, Some(&hang)).0, Accel::Tcg);
        assert!(decide(AccelChoice::Auto, true, Some(&hang))
            .1
            .contains("hang"));
        assert_eq!(
            decide(AccelChoice::Auto, false, Some(&Verdict::Works)).0,
            Accel::Tcg
        );
        assert_eq!(decide(AccelChoice::Auto, true, None).0, Accel::Tcg);
        assert_eq!(
            decide(
                AccelChoice::Auto,
                true,
                Some(&Verdict::Failed { reason: "x".into() })
            )
            .0,
            Accel::Tcg
        );
        assert_eq!(
            decide(AccelChoice::Tcg, true, Some(&Verdict::Works)).0,
            Accel::Tcg
        );
        assert_eq!(decide(AccelChoice::Kvm, false, None).0, Accel::Kvm);
        assert_eq!("auto".parse::<AccelChoice>(), Ok(AccelChoice::Auto));
        assert_eq!("off".parse::<AccelChoice>(), Ok(AccelChoice::Tcg));
        assert!("maybe".parse::<AccelChoice>().is_err());
    }

    #[test]
    fn cached_record_is_reused_only_on_the_same_host_boot() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::at(d.path());
        let rec = ProbeRecord {
            verdict: Verdict::Works,
            secs: 1.0,
            kernel: "k".into(),
            boot_id: boot_id(),
            timeout_secs: 20,
        };
        std::fs::write(cache.kvm_probe(), serde_json::to_string(&rec).unwrap()).unwrap();
        // Same boot id: reused without running qemu (the kernel path does not exist).
        assert_eq!(
            probe_cached(
                &cache,
                Path::new("/nonexistent/bzImage"),
                Duration::from_secs(1),
                false
            )
            .unwrap(),
            rec
        );
        // Another boot: probed again (and this kernel does not exist, so it fails or
        // qemu is missing; either way it is not the cached record).
        let old = ProbeRecord {
            boot_id: "another-boot".into(),
            ..rec.clone()
        };
        std::fs::write(cache.kvm_probe(), serde_json::to_string(&old).unwrap()).unwrap();
        match probe_cached(
            &cache,
            Path::new("/nonexistent/bzImage"),
            Duration::from_secs(5),
            false,
        ) {
            Ok(r) => assert_ne!(r.verdict, Verdict::Works),
            Err(e) => assert!(e.contains("qemu"), "{e}"),
        }
    }
}
