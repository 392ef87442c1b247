//! /proc/self/smaps: the VMAs of a range, their locked flag and sizes.

/// One VMA of /proc/self/smaps: its range, `VmFlags: lo`, and the
/// `Locked:`, `Rss:` and `Swap:` sizes (kB).
#[derive(Debug, Clone, Copy, Default)]
pub struct SmapsVma {
    pub start: usize,
    pub end: usize,
    pub locked: bool,
    pub locked_kb: u64,
    pub rss_kb: u64,
    pub swap_kb: u64,
}

/// VMAs of this process intersecting [a, b).
pub fn vmas_in(a: usize, b: usize) -> Result<Vec<SmapsVma>, String> {
    let text = std::fs::read_to_string("/proc/self/smaps")
        .map_err(|e| format!("/proc/self/smaps: {e}"))?;
    let mut out: Vec<SmapsVma> = Vec::new();
    let mut cur: Option<SmapsVma> = None;
    let kb = |v: &str| v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
    for l in text.lines() {
        let first = l.split_whitespace().next().unwrap_or("");
        if let Some((s, e)) = first.split_once('-') {
            if let (Ok(start), Ok(end)) =
                (usize::from_str_radix(s, 16), usize::from_str_radix(e, 16))
            {
                cur = Some(SmapsVma {
                    start,
                    end,
                    ..Default::default()
                });
                continue;
            }
        }
        let Some(v) = cur.as_mut() else { continue };
        if let Some(x) = l.strip_prefix("Locked:") {
            v.locked_kb = kb(x);
        } else if let Some(x) = l.strip_prefix("Rss:") {
            v.rss_kb = kb(x);
        } else if let Some(x) = l.strip_prefix("Swap:") {
            v.swap_kb = kb(x);
        } else if let Some(flags) = l.strip_prefix("VmFlags:") {
            // VmFlags is the last line of a VMA's block.
            let mut v = cur.take().expect("current VMA");
            v.locked = flags.split_whitespace().any(|f| f == "lo");
            if v.start < b && v.end > a {
                out.push(v);
            }
        }
    }
    Ok(out)
}

/// How many of `v` are locked, and their `Locked:` total (kB).
pub fn locked_summary(v: &[SmapsVma]) -> (usize, u64) {
    (
        v.iter().filter(|x| x.locked).count(),
        v.iter().filter(|x| x.locked).map(|x| x.locked_kb).sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{map_anon, page, touch};

    // Runs on the host kernel: checks the smaps parsing, not a verdict.
    #[test]
    fn smaps_sees_a_fresh_mapping_unlocked() {
        let pg = page();
        let p = map_anon(3 * pg, 0).unwrap();
        touch(p, 3 * pg);
        let v = vmas_in(p as usize, p as usize + 3 * pg).unwrap();
        assert!(!v.is_empty());
        assert!(v.iter().all(|x| !x.locked), "{v:?}");
        unsafe { libc::munmap(p as *mut libc::c_void, 3 * pg) };
    }
}
