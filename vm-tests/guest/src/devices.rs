//! What the I/O and reclaim tests set up inside the guest: a private tmpfs,
//! a loop device over a file on it, a dm-delay device over the loop device,
//! swap on a loop device, a cgroup v2 memory cgroup. Every piece is undone
//! when dropped (in reverse order of creation when held in one scope).
//!
//! A missing kernel feature or tool is [`Setup::Missing`] (the test is SKIP
//! with the reason); a failing call on something that exists is
//! [`Setup::Failed`] (ERROR, with the call named).

use crate::sys::errno_str;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

// linux/loop.h
const LOOP_SET_FD: libc::c_ulong = 0x4C00;
const LOOP_CLR_FD: libc::c_ulong = 0x4C01;
const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_MAJOR: u32 = 7;

#[derive(Debug, Clone, PartialEq)]
pub enum Setup {
    /// A precondition is missing (kernel option, tool): SKIP with the reason.
    Missing(String),
    /// Something that exists failed: ERROR with the call.
    Failed(String),
}

impl Setup {
    pub fn text(&self) -> &str {
        match self {
            Setup::Missing(s) | Setup::Failed(s) => s,
        }
    }
}

fn failed(what: impl std::fmt::Display) -> Setup {
    Setup::Failed(format!("{what}: {}", errno_str()))
}

fn cstr(p: &Path) -> Result<CString, Setup> {
    CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| Setup::Failed(format!("path {} has a NUL byte", p.display())))
}

fn filesystem_supported(name: &str) -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .map(|t| t.lines().any(|l| l.split_whitespace().last() == Some(name)))
        .unwrap_or(false)
}

/// A tmpfs mounted on a fresh directory, unmounted and removed on drop.
pub struct Tmpfs {
    pub dir: PathBuf,
}

impl Tmpfs {
    pub fn mount(tag: &str, size_mib: u64) -> Result<Tmpfs, Setup> {
        if !filesystem_supported("tmpfs") {
            return Err(Setup::Missing(
                "the kernel has no tmpfs (CONFIG_TMPFS)".into(),
            ));
        }
        // /tmp may be the host's (virtme-ng shares it) or a guest tmpfs:
        // either way a directory made there and mounted over stays private.
        let mut last = String::new();
        for parent in ["/tmp", "/run", "/dev/shm"] {
            let dir = PathBuf::from(parent).join(format!("mmstall-{tag}-{}", std::process::id()));
            if std::fs::create_dir_all(&dir).is_err() {
                last = format!("mkdir {}: {}", dir.display(), errno_str());
                continue;
            }
            let opts = CString::new(format!("size={}m,mode=0700", size_mib)).expect("no NUL");
            let r = unsafe {
                libc::mount(
                    c"mmstall".as_ptr(),
                    cstr(&dir)?.as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    opts.as_ptr() as *const libc::c_void,
                )
            };
            if r == 0 {
                return Ok(Tmpfs { dir });
            }
            last = format!("mount tmpfs on {}: {}", dir.display(), errno_str());
            let _ = std::fs::remove_dir(&dir);
        }
        Err(Setup::Failed(last))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Ok(c) = cstr(&self.dir) {
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// A block device's filesystem mounted on `dir`; unmounted on drop.
pub struct FsMount {
    pub dir: PathBuf,
}

impl FsMount {
    /// `fstype` unknown to the kernel (ENODEV) is [`Setup::Missing`].
    pub fn mount(dev: &Path, dir: &Path, fstype: &str) -> Result<FsMount, Setup> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Setup::Failed(format!("mkdir {}: {e}", dir.display())))?;
        let ty = CString::new(fstype).expect("no NUL");
        let r = unsafe {
            libc::mount(
                cstr(dev)?.as_ptr(),
                cstr(dir)?.as_ptr(),
                ty.as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            let what = format!("mount -t {fstype} {} {}: {e}", dev.display(), dir.display());
            return Err(if e.raw_os_error() == Some(libc::ENODEV) {
                Setup::Missing(format!("{what} (no {fstype} in this kernel)"))
            } else {
                Setup::Failed(what)
            });
        }
        Ok(FsMount {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for FsMount {
    fn drop(&mut self) {
        if let Ok(c) = cstr(&self.dir) {
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// A file of `size` bytes with its blocks allocated now (fallocate), so
/// writes through a loop device later need no new memory.
pub fn allocated_file(path: &Path, size: u64) -> Result<File, Setup> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| Setup::Failed(format!("creating {}: {e}", path.display())))?;
    if unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, size as libc::off_t) } != 0 {
        return Err(failed(format!(
            "fallocate {} ({} MiB)",
            path.display(),
            size >> 20
        )));
    }
    Ok(f)
}

/// A block device node: the devtmpfs one, else one made with mknod in `dir`.
fn device_node(name: &str, major: u32, minor: u32, dir: &Path) -> Result<PathBuf, Setup> {
    let dev = PathBuf::from("/dev").join(name);
    if dev.exists() {
        return Ok(dev);
    }
    let node = dir.join(name.replace('/', "-"));
    let r = unsafe {
        libc::mknod(
            cstr(&node)?.as_ptr(),
            libc::S_IFBLK | 0o600,
            libc::makedev(major, minor),
        )
    };
    if r != 0 {
        return Err(failed(format!(
            "mknod {} ({major}:{minor})",
            node.display()
        )));
    }
    Ok(node)
}

/// A loop device over a file; detached on drop.
pub struct LoopDev {
    pub dev: PathBuf,
    file: File,
}

impl LoopDev {
    /// `nodes`: where to make the device node when /dev has none.
    pub fn attach(backing: &File, nodes: &Path) -> Result<LoopDev, Setup> {
        let ctl =
            match File::options()
                .read(true)
                .write(true)
                .open("/dev/loop-control")
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Setup::Missing(
                    "no /dev/loop-control: the kernel has no loop devices (CONFIG_BLK_DEV_LOOP)"
                        .into(),
                )),
                Err(e) => return Err(Setup::Failed(format!("open /dev/loop-control: {e}"))),
            };
        let n = unsafe { libc::ioctl(ctl.as_raw_fd(), LOOP_CTL_GET_FREE) };
        if n < 0 {
            return Err(failed("ioctl(/dev/loop-control, LOOP_CTL_GET_FREE)"));
        }
        let dev = device_node(&format!("loop{n}"), LOOP_MAJOR, n as u32, nodes)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&dev)
            .map_err(|e| Setup::Failed(format!("open {}: {e}", dev.display())))?;
        if unsafe { libc::ioctl(file.as_raw_fd(), LOOP_SET_FD, backing.as_raw_fd()) } != 0 {
            return Err(failed(format!("ioctl({}, LOOP_SET_FD)", dev.display())));
        }
        Ok(LoopDev { dev, file })
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        unsafe { libc::ioctl(self.file.as_raw_fd(), LOOP_CLR_FD, 0) };
    }
}

/// A tool from the host (virtme-ng shares its filesystem): the sbin and
/// bin directories, then PATH.
fn host_tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(PathBuf::from)
        .collect();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// dmsetup from the host (Debian package `dmsetup`, installed by
/// scripts/setup.sh).
fn dmsetup() -> Option<PathBuf> {
    host_tool("dmsetup")
}

/// An ext2 filesystem on `dev` (the host's mke2fs, Debian package
/// e2fsprogs), 4 KiB blocks, inode tables written now.
pub fn mkfs_ext2(dev: &Path) -> Result<(), Setup> {
    let tool = host_tool("mke2fs").ok_or_else(|| {
        Setup::Missing("mke2fs is not installed (Debian package e2fsprogs)".into())
    })?;
    let o = Command::new(&tool)
        .args(["-q", "-F", "-t", "ext2", "-b", "4096"])
        .arg(dev)
        .output()
        .map_err(|e| Setup::Failed(format!("{} {}: {e}", tool.display(), dev.display())))?;
    if !o.status.success() {
        return Err(Setup::Failed(format!(
            "{} {} failed ({}): {}",
            tool.display(),
            dev.display(),
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        )));
    }
    Ok(())
}

fn run_dmsetup(tool: &Path, args: &[&str]) -> Result<String, String> {
    // No udev in the guest: libdevmapper must not wait for it, and makes
    // the /dev/mapper node itself.
    let o = Command::new(tool)
        .args(args)
        .env("DM_DISABLE_UDEV", "1")
        .output()
        .map_err(|e| format!("{} {}: {e}", tool.display(), args.join(" ")))?;
    if !o.status.success() {
        return Err(format!(
            "{} {} failed ({}): {}",
            tool.display(),
            args.join(" "),
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// A dm-delay device over another block device: every bio waits `delay_ms`.
pub struct DelayDev {
    pub name: String,
    pub dev: PathBuf,
    tool: PathBuf,
}

impl DelayDev {
    pub fn create(
        name: &str,
        over: &Path,
        bytes: u64,
        delay_ms: u64,
        nodes: &Path,
    ) -> Result<DelayDev, Setup> {
        let tool = dmsetup().ok_or_else(|| {
            Setup::Missing(
                "dmsetup is not installed (Debian package dmsetup; scripts/setup.sh installs it)"
                    .into(),
            )
        })?;
        if !Path::new("/dev/mapper/control").exists()
            && !Path::new("/sys/class/misc/device-mapper").exists()
        {
            return Err(Setup::Missing(
                "no device-mapper in this kernel (CONFIG_BLK_DEV_DM)".into(),
            ));
        }
        let targets = run_dmsetup(&tool, &["targets"]).map_err(Setup::Failed)?;
        if !targets
            .lines()
            .any(|l| l.split_whitespace().next() == Some("delay"))
        {
            return Err(Setup::Missing(format!(
                "no dm-delay target in this kernel (CONFIG_DM_DELAY); targets: {}",
                targets
                    .split_whitespace()
                    .step_by(2)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let table = format!("0 {} delay {} 0 {}", bytes / 512, over.display(), delay_ms);
        run_dmsetup(&tool, &["create", name, "--table", &table]).map_err(Setup::Failed)?;
        let mut d = DelayDev {
            name: name.to_string(),
            dev: PathBuf::new(),
            tool,
        };
        // The node: /dev/mapper/NAME when libdevmapper made it, else dm-N.
        let mapper = PathBuf::from("/dev/mapper").join(name);
        d.dev = if mapper.exists() {
            mapper
        } else {
            let info = run_dmsetup(
                &d.tool,
                &["info", "-c", "--noheadings", "-o", "major,minor", name],
            )
            .map_err(Setup::Failed)?;
            let mut it = info.trim().split(':').map(|s| s.trim().parse::<u32>());
            match (it.next(), it.next()) {
                (Some(Ok(major)), Some(Ok(minor))) => {
                    device_node(&format!("dm-{minor}"), major, minor, nodes)?
                }
                _ => {
                    return Err(Setup::Failed(format!(
                        "dmsetup info {name}: unexpected output `{}`",
                        info.trim()
                    )))
                }
            }
        };
        Ok(d)
    }
}

impl Drop for DelayDev {
    fn drop(&mut self) {
        let _ = run_dmsetup(&self.tool, &["remove", &self.name]);
    }
}

/// Writes a version-1 swap header (what mkswap writes, without a label) at
/// the start of a file of `size` bytes.
pub fn write_swap_header(f: &File, size: u64, page: usize) -> Result<(), Setup> {
    let pages = size / page as u64;
    if pages < 10 {
        return Err(Setup::Failed(format!(
            "swap area of {pages} pages is too small"
        )));
    }
    let mut hdr = vec![0u8; page];
    // union swap_header: bootbits[1024], then version, last_page, nr_badpages.
    hdr[1024..1028].copy_from_slice(&1u32.to_ne_bytes());
    hdr[1028..1032].copy_from_slice(&((pages - 1) as u32).to_ne_bytes());
    hdr[page - 10..].copy_from_slice(b"SWAPSPACE2");
    let n = unsafe { libc::pwrite(f.as_raw_fd(), hdr.as_ptr() as *const libc::c_void, page, 0) };
    if n != page as isize {
        return Err(failed("writing the swap header"));
    }
    if unsafe { libc::fsync(f.as_raw_fd()) } != 0 {
        return Err(failed("fsync of the swap file"));
    }
    Ok(())
}

// linux/swap.h: swapon(2) flags.
const SWAP_FLAG_PREFER: libc::c_int = 0x8000;
const SWAP_PRIO_MAX: libc::c_int = 0x7fff;

/// The `Used` column (KiB) of `dev`'s line in /proc/swaps text.
fn swap_used_kib(swaps: &str, dev: &Path) -> Option<u64> {
    swaps.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 4 && Path::new(f[0]) == dev)
            .then(|| f[3].parse().ok())
            .flatten()
    })
}

/// Swap on a block device; swapoff on drop.
pub struct SwapOn {
    pub dev: PathBuf,
}

impl SwapOn {
    /// Swap on `dev` with the highest priority: the pages go to it, not to
    /// an area another workload left on (one killed before its cleanup).
    pub fn enable(dev: &Path) -> Result<SwapOn, Setup> {
        let c = cstr(dev)?;
        if unsafe { libc::swapon(c.as_ptr(), SWAP_FLAG_PREFER | SWAP_PRIO_MAX) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(if e.raw_os_error() == Some(libc::ENOSYS) {
                Setup::Missing("the kernel has no swap (CONFIG_SWAP)".into())
            } else {
                Setup::Failed(format!("swapon {}: {e}", dev.display()))
            });
        }
        Ok(SwapOn {
            dev: dev.to_path_buf(),
        })
    }
}

impl SwapOn {
    /// KiB of this area in use (/proc/swaps), None when it is not listed.
    pub fn used_kib(&self) -> Option<u64> {
        let text = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
        swap_used_kib(&text, &self.dev)
    }

    /// swapoff(2) now, its error said (the drop's swapoff then finds
    /// nothing to do and its EINVAL is ignored).
    pub fn disable(&self) -> Result<(), Setup> {
        if unsafe { libc::swapoff(cstr(&self.dev)?.as_ptr()) } != 0 {
            return Err(failed(format!("swapoff {}", self.dev.display())));
        }
        Ok(())
    }
}

impl Drop for SwapOn {
    fn drop(&mut self) {
        if let Ok(c) = cstr(&self.dev) {
            unsafe { libc::swapoff(c.as_ptr()) };
        }
    }
}

/// Swap for a test or a recipe: a loop device over a preallocated file on a
/// private tmpfs (preallocated so writing swap needs no memory of a
/// cgroup). Dropped in field order: swapoff, detach, unmount.
pub struct SwapArea {
    pub on: SwapOn,
    _lo: LoopDev,
    _tmp: Tmpfs,
}

impl SwapArea {
    pub fn on_tmpfs(tag: &str, mib: u64) -> Result<SwapArea, Setup> {
        let tmp = Tmpfs::mount(tag, mib + 4)?;
        let f = allocated_file(&tmp.dir.join("swap"), mib << 20)?;
        write_swap_header(&f, mib << 20, crate::sys::page())?;
        let lo = LoopDev::attach(&f, &tmp.dir)?;
        let on = SwapOn::enable(&lo.dev)?;
        Ok(SwapArea {
            on,
            _lo: lo,
            _tmp: tmp,
        })
    }
}

/// A child memory cgroup (cgroup v2) with a memory.max limit. The cgroup v2
/// hierarchy is mounted on a private directory when it is not mounted yet.
pub struct MemCgroup {
    pub dir: PathBuf,
    _mount: Option<Tmpfs>,
}

fn cgroup2_mounted() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(f[1]))
    })
}

impl MemCgroup {
    pub fn create(tag: &str, max_bytes: u64) -> Result<MemCgroup, Setup> {
        if !filesystem_supported("cgroup2") {
            return Err(Setup::Missing(
                "the kernel has no cgroup v2 (CONFIG_CGROUPS)".into(),
            ));
        }
        let (root, mount) = match cgroup2_mounted() {
            Some(r) => (r, None),
            None => {
                // A tmpfs directory only to hold the mount point; the
                // cgroup2 mount goes on a subdirectory of it.
                let holder = Tmpfs::mount(&format!("{tag}-cg"), 1)?;
                let dir = holder.dir.join("cgroup2");
                std::fs::create_dir(&dir)
                    .map_err(|e| Setup::Failed(format!("mkdir {}: {e}", dir.display())))?;
                let r = unsafe {
                    libc::mount(
                        c"cgroup2".as_ptr(),
                        cstr(&dir)?.as_ptr(),
                        c"cgroup2".as_ptr(),
                        0,
                        std::ptr::null(),
                    )
                };
                if r != 0 {
                    return Err(failed(format!("mount cgroup2 on {}", dir.display())));
                }
                (dir, Some(holder))
            }
        };
        let controllers =
            std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        if !controllers.split_whitespace().any(|c| c == "memory") {
            return Err(Setup::Missing(format!(
                "no memory controller in {} (CONFIG_MEMCG); controllers: `{}`",
                root.display(),
                controllers.trim()
            )));
        }
        std::fs::write(root.join("cgroup.subtree_control"), "+memory").map_err(|e| {
            Setup::Failed(format!(
                "enabling +memory in {}/cgroup.subtree_control: {e}",
                root.display()
            ))
        })?;
        let dir = root.join(format!("mmstall-{tag}-{}", std::process::id()));
        std::fs::create_dir(&dir)
            .map_err(|e| Setup::Failed(format!("mkdir {}: {e}", dir.display())))?;
        let cg = MemCgroup { dir, _mount: mount };
        cg.write("memory.max", &max_bytes.to_string())?;
        Ok(cg)
    }

    pub fn write(&self, file: &str, value: &str) -> Result<(), Setup> {
        let p = self.dir.join(file);
        std::fs::write(&p, value)
            .map_err(|e| Setup::Failed(format!("writing `{value}` to {}: {e}", p.display())))
    }

    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap_or_default()
    }

    /// Moves the calling process into the cgroup.
    pub fn enter(&self) -> Result<(), Setup> {
        self.write("cgroup.procs", "0")
    }

    /// Moves the calling process back to the parent cgroup (so the cgroup
    /// can be removed, or its limit no longer applies).
    pub fn leave(&self) -> Result<(), Setup> {
        let p = self
            .dir
            .parent()
            .expect("a child cgroup has a parent")
            .join("cgroup.procs");
        std::fs::write(&p, "0")
            .map_err(|e| Setup::Failed(format!("writing `0` to {}: {e}", p.display())))
    }
}

impl Drop for MemCgroup {
    fn drop(&mut self) {
        // Its processes have exited by now (the tests reap them first).
        let _ = std::fs::remove_dir(&self.dir);
        if let Some(m) = &self._mount {
            let d = m.dir.join("cgroup2");
            if let Ok(c) = cstr(&d) {
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}

/// A `Key: value kB` file (/proc/meminfo) or `key value` file (/proc/vmstat)
/// as numbers.
pub fn read_counters(path: &str) -> std::collections::BTreeMap<String, u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?.trim_end_matches(':').to_string();
            let v = it.next()?.parse().ok()?;
            Some((k, v))
        })
        .collect()
}

/// The kernel log (needs CAP_SYSLOG; root in the guest).
pub fn kernel_log() -> Result<String, String> {
    const SYSLOG_ACTION_READ_ALL: libc::c_int = 3;
    const SYSLOG_ACTION_SIZE_BUFFER: libc::c_int = 10;
    let size = unsafe { libc::klogctl(SYSLOG_ACTION_SIZE_BUFFER, std::ptr::null_mut(), 0) };
    if size <= 0 {
        return Err(format!("klogctl(SIZE_BUFFER): {}", errno_str()));
    }
    let mut buf = vec![0u8; size as usize];
    let n = unsafe {
        libc::klogctl(
            SYSLOG_ACTION_READ_ALL,
            buf.as_mut_ptr() as *mut libc::c_char,
            size,
        )
    };
    if n < 0 {
        return Err(format!("klogctl(READ_ALL): {}", errno_str()));
    }
    buf.truncate(n as usize);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_header_has_version_last_page_and_magic() {
        let dir = std::env::temp_dir().join(format!("mmstall-swaphdr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("swap");
        let f = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&p)
            .unwrap();
        write_swap_header(&f, 1 << 20, 4096).unwrap();
        let b = std::fs::read(&p).unwrap();
        assert_eq!(&b[4086..4096], b"SWAPSPACE2");
        assert_eq!(u32::from_ne_bytes(b[1024..1028].try_into().unwrap()), 1);
        assert_eq!(u32::from_ne_bytes(b[1028..1032].try_into().unwrap()), 255);
        assert!(
            write_swap_header(&f, 4096 * 4, 4096).is_err(),
            "a 4-page swap area is refused"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn swap_use_is_read_per_device() {
        let swaps = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
                     /dev/loop0                              partition\t114684\t\t49548\t\t-2\n\
                     /dev/loop1                              partition\t409596\t\t84000\t\t32767\n";
        assert_eq!(swap_used_kib(swaps, Path::new("/dev/loop1")), Some(84000));
        assert_eq!(swap_used_kib(swaps, Path::new("/dev/loop0")), Some(49548));
        assert_eq!(swap_used_kib(swaps, Path::new("/dev/loop2")), None);
        assert_eq!(
            swap_used_kib(
                "Filename Type Size Used Priority\n",
                Path::new("/dev/loop0")
            ),
            None
        );
    }

    #[test]
    fn counters_parse_meminfo_and_vmstat_shapes() {
        let dir = std::env::temp_dir().join(format!("mmstall-counters-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c");
        std::fs::write(
            &p,
            "Mlocked:        1024 kB\nUnevictable:     2048 kB\nunevictable_pgs_mlocked 7\nbogus\n",
        )
        .unwrap();
        let c = read_counters(p.to_str().unwrap());
        assert_eq!(c.get("Mlocked"), Some(&1024));
        assert_eq!(c.get("Unevictable"), Some(&2048));
        assert_eq!(c.get("unevictable_pgs_mlocked"), Some(&7));
        assert_eq!(c.len(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
