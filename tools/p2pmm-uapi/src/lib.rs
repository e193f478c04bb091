// SPDX-License-Identifier: GPL-2.0

//! Userspace side of p2pmm's uAPI, `/dev/p2pmm` (`include/uapi/linux/p2pmm.h`).
//!
//! [`raw`] is the header itself in Rust: the ioctl numbers, constants and `#[repr(C)]` structs,
//! checked against the C header by `tests/layout.rs`. Its numbers come from the portable core the
//! kernel module is built from (`p2pmm-core`), and so do the names of commands, plans and reasons
//! here. [`Device`] wraps each ioctl in a safe call with typed results and one error type,
//! [`Error`], that names the call and the errno.
//!
//! Migrate and advise act on the **caller's own address space**: there is no way to place or advise
//! another process's memory through this uAPI. Query looks at the caller's memory too, or, since
//! uAPI version 3, at another process's ([`Device::query_pid`]), which needs `CAP_SYS_PTRACE`.
//!
//! Block I/O (uAPI version 4, [`Device::blkio_read`] and [`Device::blkio_write`]) has a block
//! device move bytes by DMA to or from a buffer of the caller's, wherever its pages are, without
//! moving them: on a managed provider they stay there.

pub mod raw;
mod sys;

use std::fmt;
use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use sys::BlkioBuf;

pub use p2pmm_core::ioctl_cmd::Command;
pub use p2pmm_core::route::NoRouteReason;
use p2pmm_core::route::{plan_name, reason_name};
pub use p2pmm_core::uapi_blkio::BlkioDone;
pub use sys::{page_size, Mapping};

/// The default path of the device node.
pub const DEFAULT_PATH: &str = "/dev/p2pmm";

/// The uAPI call an [`Error`] comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// `open(2)` of the device node at this path.
    Open(PathBuf),
    /// An ioctl of `/dev/p2pmm`.
    Ioctl(Command),
    /// `mmap(2)` of `/dev/p2pmm` (static memory) or of anonymous memory.
    Mmap,
}

impl From<Command> for Call {
    fn from(c: Command) -> Call {
        Call::Ioctl(c)
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Call::Open(p) => write!(f, "open {}", p.display()),
            Call::Ioctl(c) => f.write_str(c.name()),
            Call::Mmap => f.write_str("mmap"),
        }
    }
}

/// A failed uAPI call: which call, and the errno the kernel returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The call that failed.
    pub call: Call,
    /// The errno (`libc::E*`).
    pub errno: i32,
}

impl Error {
    /// The symbolic name of the errno ("ENODEV"), for the errnos the uAPI documents and a few more.
    pub fn errno_name(&self) -> Option<&'static str> {
        errno_name(self.errno)
    }

    /// The C library's description of the errno ("No such device").
    pub fn description(&self) -> String {
        let s = std::io::Error::from_raw_os_error(self.errno).to_string();
        // std appends " (os error N)"; the symbolic name says it better.
        match s.find(" (os error") {
            Some(i) => s[..i].to_string(),
            None => s,
        }
    }

    /// What the uAPI documents this errno to mean for this call, when it documents one.
    pub fn meaning(&self) -> Option<&'static str> {
        use libc::*;
        use Call::Ioctl;
        use Command as C;
        Some(match (&self.call, self.errno) {
            (Call::Open(_), EACCES | EPERM) => "the uAPI is root-only by default",
            (Call::Open(_), ENOENT | ENODEV | ENXIO) => "is p2pmm.ko loaded?",
            (_, ENOTTY) => "not a p2pmm device, or a kernel without this ioctl",
            (Ioctl(C::Route), ENODEV) => "unknown provider or client device",
            (Ioctl(C::Migrate | C::Advise) | Call::Mmap, ENODEV) => "unknown provider",
            (Ioctl(C::Migrate | C::Query | C::Advise | C::Blkio), ENOMEM) => {
                "part of the range is not mapped"
            }
            (Call::Mmap, ENOMEM) => "the provider has not that much free",
            (Ioctl(C::Migrate), EINVAL) => "bad range, or a static provider as target",
            (Ioctl(C::Advise), EINVAL) => {
                "bad range or advice, or a static provider as preferred location"
            }
            (Call::Mmap, EINVAL) => "not a static provider, or a bad offset",
            (Ioctl(C::Query), EPERM) => {
                "another process's memory needs CAP_SYS_PTRACE or tracing it"
            }
            (Ioctl(C::Query), ESRCH) => {
                "no process with that pid (or one without an address space, e.g. a kernel thread)"
            }
            (Ioctl(C::Query), E2BIG) => {
                "this kernel's P2PMM_IOC_QUERY takes no pid (uAPI version 2 or older)"
            }
            (Ioctl(C::Advise), EOPNOTSUPP) => {
                "p2pmm does not carry out read-mostly advice (no read duplication)"
            }
            (Ioctl(C::Advise), EPERM) => {
                "the caller's address space is not the one that opened the file"
            }
            (Ioctl(C::Blkio), EINVAL) => {
                "not a block device, or a range not aligned to its logical block size or past its \
                 end"
            }
            (Ioctl(C::Blkio), EBADF) => "the file is not open for this direction",
            (Ioctl(C::Blkio), EFAULT) => {
                "memory that cannot be accessed (PROT_NONE, or not writable for a read)"
            }
            (Ioctl(C::Blkio), EREMOTEIO) => "static memory the device cannot reach",
            (Ioctl(C::Blkio), EBUSY) => "invalidations kept racing the setup",
            (Ioctl(C::Dmabuf), ENOMEM) => "part of the range is not mapped, or out of memory",
            (Ioctl(C::Dmabuf), EINVAL) => "a bad range, or one over more than one mapping",
            (Ioctl(C::Dmabuf), EOPNOTSUPP) => "only static memory is exported as a dma-buf",
            (Ioctl(C::Dmabuf), EACCES) => "the mapping is not writable",
            (Ioctl(C::Dmabuf), ENODEV) => "the provider was revoked",
            (_, E2BIG) => {
                "a struct larger than this kernel knows, with non-zero bytes past its end"
            }
            _ => return None,
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.call, self.description().to_lowercase())?;
        if let Some(name) = self.errno_name() {
            write!(f, " ({name})")?;
        }
        if let Some(m) = self.meaning() {
            write!(f, "; {m}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// The symbolic name of an errno the uAPI can return.
pub fn errno_name(errno: i32) -> Option<&'static str> {
    use libc::*;
    Some(match errno {
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        ESRCH => "ESRCH",
        EIO => "EIO",
        ENXIO => "ENXIO",
        E2BIG => "E2BIG",
        EBADF => "EBADF",
        ENOMEM => "ENOMEM",
        EACCES => "EACCES",
        EFAULT => "EFAULT",
        EBUSY => "EBUSY",
        ENODEV => "ENODEV",
        EINVAL => "EINVAL",
        ENOTTY => "ENOTTY",
        ENOSPC => "ENOSPC",
        EAGAIN => "EAGAIN",
        EOPNOTSUPP => "EOPNOTSUPP",
        EREMOTEIO => "EREMOTEIO",
        _ => return None,
    })
}

/// A result of a uAPI call.
pub type Result<T> = core::result::Result<T, Error>;

/// Opens `path` for `O_DIRECT` I/O, for reading and, if `write`, for writing: its device then moves
/// the bytes by DMA straight to or from the caller's buffer, p2pmm memory included.
pub fn open_direct(path: &Path, write: bool) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(libc::O_DIRECT)
        .open(path)
}

/// The major and minor numbers of a device number (`st_dev`, `st_rdev`), as
/// `/sys/dev/block/MAJ:MIN` names them.
pub fn major_minor(dev: u64) -> (u32, u32) {
    (libc::major(dev), libc::minor(dev))
}

/// `P2PMM_IOC_VERSION`: what the running kernel implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    /// The kernel's `P2PMM_UAPI_VERSION`.
    pub version: u32,
    /// `P2PMM_FEATURE_*` bits.
    pub features: u64,
}

impl Version {
    /// The names of the feature bits set, known ones by name, unknown ones as `bitN`.
    pub fn feature_names(&self) -> Vec<String> {
        (0..64)
            .filter(|b| self.features & (1u64 << b) != 0)
            .map(|b| match 1u64 << b {
                raw::P2PMM_FEATURE_VERSION => "version".to_string(),
                raw::P2PMM_FEATURE_PROVIDERS => "providers".to_string(),
                raw::P2PMM_FEATURE_MIGRATE => "migrate".to_string(),
                raw::P2PMM_FEATURE_ADVISE => "advise".to_string(),
                raw::P2PMM_FEATURE_STATIC_MMAP => "static-mmap".to_string(),
                raw::P2PMM_FEATURE_BLKIO => "blkio".to_string(),
                raw::P2PMM_FEATURE_DMABUF => "dmabuf".to_string(),
                raw::P2PMM_FEATURE_DMABUF_MANAGED => "dmabuf-managed".to_string(),
                _ => format!("bit{b}"),
            })
            .collect()
    }
}

/// `P2PMM_PROVIDER_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderKind {
    /// A BAR used through p2pdma: allocated by mmap, never invalidated, revoked on removal.
    Static,
    /// Capacity-bounded device memory that pages are migrated to and evicted from.
    Managed,
    /// A kind this crate does not know.
    Unknown(u32),
}

impl ProviderKind {
    /// From the uAPI code.
    pub fn from_raw(v: u32) -> ProviderKind {
        match v {
            raw::P2PMM_PROVIDER_STATIC => ProviderKind::Static,
            raw::P2PMM_PROVIDER_MANAGED => ProviderKind::Managed,
            v => ProviderKind::Unknown(v),
        }
    }

    /// A lowercase name: "static", "managed" or "kindN".
    pub fn name(&self) -> String {
        match self {
            ProviderKind::Static => "static".into(),
            ProviderKind::Managed => "managed".into(),
            ProviderKind::Unknown(v) => format!("kind{v}"),
        }
    }
}

/// One provider of device memory: the kernel's `struct p2pmm_provider_info` with its kind and
/// device name decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    /// The entry as the kernel wrote it: p2pmm's `id` (stable while the provider exists, never
    /// reused while the module is loaded), the `flags`, the bytes offered (`capacity`) and in use
    /// (`used`), and the counters.
    pub info: raw::ProviderInfo,
    /// Static or managed (`info.kind`).
    pub kind: ProviderKind,
    /// PCI name of the device offering the memory ("0000:04:00.0", `info.device`).
    pub device: String,
}

impl Provider {
    /// Registered with p2pdma by another driver (e.g. an NVMe CMB) and adopted by p2pmm.
    pub fn adopted(&self) -> bool {
        self.info.flags & raw::P2PMM_PROVIDER_F_ADOPTED != 0
    }

    /// From the uAPI struct.
    pub fn from_raw(r: &raw::ProviderInfo) -> Provider {
        Provider {
            info: *r,
            kind: ProviderKind::from_raw(r.kind),
            device: c_string(&r.device),
        }
    }
}

/// `P2PMM_ROUTE_*`: what the PCI topology allows, as `pci_p2pdma_distance()` decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Below a common PCI bridge: PCI bus addresses.
    BusAddress,
    /// Through a host bridge on p2pdma's allowlist.
    HostBridge,
    /// No P2P path.
    NotSupported,
    /// A code this crate does not know.
    Unknown(u32),
}

impl Verdict {
    /// From the uAPI code.
    pub fn from_raw(v: u32) -> Verdict {
        match v {
            raw::P2PMM_ROUTE_BUS_ADDR => Verdict::BusAddress,
            raw::P2PMM_ROUTE_HOST_BRIDGE => Verdict::HostBridge,
            raw::P2PMM_ROUTE_NOT_SUPPORTED => Verdict::NotSupported,
            v => Verdict::Unknown(v),
        }
    }

    /// A short lowercase name.
    pub fn name(&self) -> String {
        match self {
            Verdict::BusAddress => "bus-address".into(),
            Verdict::HostBridge => "host-bridge".into(),
            Verdict::NotSupported => "not-supported".into(),
            Verdict::Unknown(v) => format!("verdict{v}"),
        }
    }
}

/// `P2PMM_PLAN_*`: what p2pmm does for a (provider, client) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The client maps the provider's memory directly.
    Direct,
    /// Managed memory: the page moves to system memory and the client maps it there.
    Bounce,
    /// Static memory cannot move: the client cannot use it.
    Refused,
    /// A code this crate does not know.
    Unknown(u32),
}

impl Plan {
    /// From the uAPI code.
    pub fn from_raw(v: u32) -> Plan {
        match v {
            raw::P2PMM_PLAN_DIRECT => Plan::Direct,
            raw::P2PMM_PLAN_BOUNCE => Plan::Bounce,
            raw::P2PMM_PLAN_REFUSED => Plan::Refused,
            v => Plan::Unknown(v),
        }
    }

    /// The uAPI code.
    pub fn to_raw(self) -> u32 {
        match self {
            Plan::Direct => raw::P2PMM_PLAN_DIRECT,
            Plan::Bounce => raw::P2PMM_PLAN_BOUNCE,
            Plan::Refused => raw::P2PMM_PLAN_REFUSED,
            Plan::Unknown(v) => v,
        }
    }

    /// A short lowercase name, the kernel's (`direct`, `bounce`, `refused`), or "planN".
    pub fn name(&self) -> String {
        match self {
            Plan::Unknown(v) => format!("plan{v}"),
            p => plan_name(p.to_raw()).into(),
        }
    }
}

/// `P2PMM_REASON_*`: why a route is not direct.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// `P2PMM_REASON_NONE`: the route is direct.
    None,
    /// Why there is no direct route, in the kernel's own terms.
    NoRoute(NoRouteReason),
    /// A code this crate does not know.
    Unknown(u32),
}

impl Reason {
    /// From the uAPI code.
    pub fn from_raw(v: u32) -> Reason {
        match v {
            raw::P2PMM_REASON_NONE => Reason::None,
            v => NoRouteReason::from_code(v).map_or(Reason::Unknown(v), Reason::NoRoute),
        }
    }

    /// The uAPI code.
    pub fn to_raw(self) -> u32 {
        match self {
            Reason::None => raw::P2PMM_REASON_NONE,
            Reason::NoRoute(r) => r.code(),
            Reason::Unknown(v) => v,
        }
    }

    /// The header's name without the prefix ("HOST_BRIDGE_NOT_ALLOWED"): the kernel's short name
    /// (`p2pmm_core::route::reason_name`, "host-bridge-not-allowed") in upper case; "REASON_N" for
    /// unknown codes.
    pub fn name(&self) -> String {
        match self {
            Reason::Unknown(v) => format!("REASON_{v}"),
            r => reason_name(r.to_raw())
                .to_ascii_uppercase()
                .replace('-', "_"),
        }
    }

    /// The header's explanation.
    pub fn text(&self) -> &'static str {
        match self {
            Reason::None => "direct route",
            Reason::NoRoute(NoRouteReason::HostBridgeNotAllowed) => {
                "no common upstream bridge, and the host bridge is not on p2pdma's allowlist"
            }
            Reason::NoRoute(NoRouteReason::AcsRedirect) => {
                "a common bridge, but ACS redirects the traffic upstream and the host bridge is \
                 not allowed (pci=disable_acs_redir= lifts it)"
            }
            Reason::NoRoute(NoRouteReason::NotPci) => "the client is not a PCI device",
            Reason::NoRoute(NoRouteReason::HostBridgeDisallowed) => {
                "p2pmm's policy forbids the host-bridge path p2pdma allows"
            }
            Reason::NoRoute(NoRouteReason::TooFar) => "p2pmm's policy limits the PCI distance",
            Reason::Unknown(_) => "a reason this p2pmmctl does not know (newer kernel)",
        }
    }
}

/// The answer of `P2PMM_IOC_ROUTE`: how a PCI device reaches a provider's memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The provider's id.
    pub provider: u32,
    /// The client's PCI name.
    pub client: String,
    /// What the PCI topology allows.
    pub verdict: Verdict,
    /// What p2pmm does.
    pub plan: Plan,
    /// Why the route is not direct.
    pub reason: Reason,
    /// `pci_p2pdma_distance()`, `None` when there is no P2P path.
    pub distance: Option<u32>,
    /// Vendor and device id of the host bridge the provider sits under, when known.
    pub host_bridge: Option<(u16, u16)>,
}

impl Route {
    /// From the uAPI struct.
    pub fn from_raw(r: &raw::Route) -> Route {
        Route {
            provider: r.provider,
            client: c_string(&r.client),
            verdict: Verdict::from_raw(r.verdict),
            plan: Plan::from_raw(r.plan),
            reason: Reason::from_raw(r.reason),
            distance: u32::try_from(r.distance).ok(),
            host_bridge: (r.host_bridge != 0)
                .then_some(((r.host_bridge >> 16) as u16, r.host_bridge as u16)),
        }
    }
}

/// A place a page can be: `P2PMM_LOCATION_*` or a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    /// System memory.
    System,
    /// A provider, by id.
    Provider(u32),
    /// Not populated, or memory p2pmm does not manage (query only).
    None,
}

impl Location {
    /// From the uAPI code.
    pub fn from_raw(v: u32) -> Location {
        match v {
            raw::P2PMM_LOCATION_SYSTEM => Location::System,
            raw::P2PMM_LOCATION_NONE => Location::None,
            id => Location::Provider(id),
        }
    }

    /// The uAPI code.
    pub fn to_raw(self) -> u32 {
        match self {
            Location::System => raw::P2PMM_LOCATION_SYSTEM,
            Location::None => raw::P2PMM_LOCATION_NONE,
            Location::Provider(id) => id,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::System => f.write_str("system"),
            Location::None => f.write_str("none"),
            Location::Provider(id) => write!(f, "provider {id}"),
        }
    }
}

/// The answer of `P2PMM_IOC_MIGRATE`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    /// Pages that moved to the target.
    pub migrated: u64,
    /// Pages evicted from the target to make room.
    pub evicted: u64,
}

/// Advice for `P2PMM_IOC_ADVISE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advice {
    /// `P2PMM_ADV_PREFERRED_LOCATION`: a managed provider or system memory.
    PreferredLocation(Location),
    /// `P2PMM_ADV_UNSET_PREFERRED_LOCATION`.
    UnsetPreferredLocation,
    /// `P2PMM_ADV_ACCESSED_BY`: the provider whose device accesses the range.
    AccessedBy(u32),
    /// `P2PMM_ADV_UNSET_ACCESSED_BY`.
    UnsetAccessedBy(u32),
    /// `P2PMM_ADV_READ_MOSTLY`.
    ReadMostly,
    /// `P2PMM_ADV_UNSET_READ_MOSTLY`.
    UnsetReadMostly,
    /// `P2PMM_ADV_PIN`: never evict the range's pages from a provider to make room.
    Pin,
    /// `P2PMM_ADV_UNPIN`.
    Unpin,
}

impl Advice {
    /// The (`advice`, `location`) fields of `struct p2pmm_advise`.
    pub fn to_raw(self) -> (u32, u32) {
        match self {
            Advice::PreferredLocation(l) => (raw::P2PMM_ADV_PREFERRED_LOCATION, l.to_raw()),
            Advice::UnsetPreferredLocation => (raw::P2PMM_ADV_UNSET_PREFERRED_LOCATION, 0),
            Advice::AccessedBy(id) => (raw::P2PMM_ADV_ACCESSED_BY, id),
            Advice::UnsetAccessedBy(id) => (raw::P2PMM_ADV_UNSET_ACCESSED_BY, id),
            Advice::ReadMostly => (raw::P2PMM_ADV_READ_MOSTLY, 0),
            Advice::UnsetReadMostly => (raw::P2PMM_ADV_UNSET_READ_MOSTLY, 0),
            Advice::Pin => (raw::P2PMM_ADV_PIN, 0),
            Advice::Unpin => (raw::P2PMM_ADV_UNPIN, 0),
        }
    }
}

impl fmt::Display for Advice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Advice::PreferredLocation(l) => write!(f, "preferred-location {l}"),
            Advice::UnsetPreferredLocation => f.write_str("unset preferred-location"),
            Advice::AccessedBy(id) => write!(f, "accessed-by provider {id}"),
            Advice::UnsetAccessedBy(id) => write!(f, "unset accessed-by provider {id}"),
            Advice::ReadMostly => f.write_str("read-mostly"),
            Advice::UnsetReadMostly => f.write_str("unset read-mostly"),
            Advice::Pin => f.write_str("pin"),
            Advice::Unpin => f.write_str("unpin"),
        }
    }
}

/// An open `/dev/p2pmm`.
#[derive(Debug)]
pub struct Device {
    file: File,
    path: PathBuf,
}

impl Device {
    /// Opens the device node read-write (close-on-exec).
    pub fn open(path: impl AsRef<Path>) -> Result<Device> {
        let path = path.as_ref().to_path_buf();
        match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(file) => Ok(Device { file, path }),
            Err(e) => Err(Error {
                call: Call::Open(path),
                errno: e.raw_os_error().unwrap_or(libc::EIO),
            }),
        }
    }

    /// The path it was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `P2PMM_IOC_VERSION`.
    pub fn version(&self) -> Result<Version> {
        let mut v = raw::Version {
            size: raw::size_of_u32::<raw::Version>(),
            ..Default::default()
        };
        sys::ioctl(self.file.as_fd(), raw::P2PMM_IOC_VERSION, &mut v)
            .map_err(|e| err(Command::Version, e))?;
        Ok(Version {
            version: v.version,
            features: v.features,
        })
    }

    /// `P2PMM_IOC_PROVIDERS`: every provider, in the kernel's order. Asks for the count first, and
    /// again with more room if providers appeared in between.
    pub fn providers(&self) -> Result<Vec<Provider>> {
        let mut room = 0usize;
        loop {
            let mut entries = vec![raw::ProviderInfo::default(); room];
            let (count, _entry_size) = sys::providers(self.file.as_fd(), &mut entries)
                .map_err(|e| err(Command::Providers, e))?;
            let count = count as usize;
            if count <= room {
                return Ok(entries[..count].iter().map(Provider::from_raw).collect());
            }
            room = count + 4;
        }
    }

    /// One provider by id, `None` if there is no such provider.
    pub fn provider(&self, id: u32) -> Result<Option<Provider>> {
        Ok(self.providers()?.into_iter().find(|p| p.info.id == id))
    }

    /// `P2PMM_IOC_ROUTE`: how PCI device `client` ("0000:05:00.0") reaches provider `provider`'s
    /// memory.
    pub fn route(&self, provider: u32, client: &str) -> Result<Route> {
        let mut r = raw::Route {
            size: raw::size_of_u32::<raw::Route>(),
            provider,
            ..Default::default()
        };
        // The kernel wants a NUL inside the field: a longer name cannot be a PCI name.
        if client.len() >= r.client.len() || client.contains('\0') {
            return Err(err(Command::Route, libc::EINVAL));
        }
        r.client[..client.len()].copy_from_slice(client.as_bytes());
        sys::ioctl(self.file.as_fd(), raw::P2PMM_IOC_ROUTE, &mut r)
            .map_err(|e| err(Command::Route, e))?;
        Ok(Route::from_raw(&r))
    }

    /// `P2PMM_IOC_MIGRATE` of `[addr, addr + length)` of the caller's memory to `target` (system
    /// memory or a managed provider). Page-aligned range; the kernel checks it (`EINVAL`, `ENOMEM`
    /// if unmapped).
    pub fn migrate(&self, addr: u64, length: u64, target: Location) -> Result<Migrated> {
        let mut m = raw::Migrate {
            size: raw::size_of_u32::<raw::Migrate>(),
            addr,
            length,
            target: target.to_raw(),
            ..Default::default()
        };
        sys::ioctl(self.file.as_fd(), raw::P2PMM_IOC_MIGRATE, &mut m)
            .map_err(|e| err(Command::Migrate, e))?;
        Ok(Migrated {
            migrated: m.migrated,
            evicted: m.evicted,
        })
    }

    /// `P2PMM_IOC_QUERY`: where each page of `[addr, addr + length)` of the caller's memory is.
    /// Faults nothing in.
    pub fn query(&self, addr: u64, length: u64) -> Result<Vec<Location>> {
        self.query_pid(0, addr, length)
    }

    /// `P2PMM_IOC_QUERY` of process `pid`'s memory: where each page of `[addr, addr + length)` of
    /// its address space is; `pid` 0 (or the caller's own pid) is the caller. Faults nothing in.
    /// Another process needs `CAP_SYS_PTRACE` (`EPERM`); no such process, or one without an address
    /// space, is `ESRCH`; a range not mapped in it is `ENOMEM`. A kernel before uAPI version 3
    /// answers a non-zero `pid` with `E2BIG`.
    pub fn query_pid(&self, pid: u32, addr: u64, length: u64) -> Result<Vec<Location>> {
        let pages = usize::try_from(length.div_ceil(page_size() as u64))
            .map_err(|_| err(Command::Query, libc::EINVAL))?;
        let mut loc = vec![0u32; pages];
        sys::query(self.file.as_fd(), pid, addr, length, &mut loc)
            .map_err(|e| err(Command::Query, e))?;
        Ok(loc.into_iter().map(Location::from_raw).collect())
    }

    /// `P2PMM_IOC_ADVISE` on `[addr, addr + length)` of the caller's memory. Advice lasts until the
    /// range is unmapped or this `Device` is dropped.
    pub fn advise(&self, addr: u64, length: u64, advice: Advice) -> Result<()> {
        let (advice, location) = advice.to_raw();
        let mut a = raw::Advise {
            size: raw::size_of_u32::<raw::Advise>(),
            addr,
            length,
            advice,
            location,
            ..Default::default()
        };
        sys::ioctl(self.file.as_fd(), raw::P2PMM_IOC_ADVISE, &mut a)
            .map_err(|e| err(Command::Advise, e))
    }

    /// `P2PMM_IOC_DMABUF`: exports `length` bytes at `addr` of this process's static memory (one
    /// writable VMA of a mapping from [`Device::map_static`] or a provider's allocate file) as a
    /// dma-buf, close-on-exec, for another driver's device to import. The dma-buf holds the memory
    /// until it is closed, also after the mapping goes; memory that is not static memory is
    /// `EOPNOTSUPP`.
    pub fn export_dmabuf(&self, addr: u64, length: u64) -> Result<std::os::fd::OwnedFd> {
        let mut d = raw::Dmabuf {
            size: raw::size_of_u32::<raw::Dmabuf>(),
            flags: raw::P2PMM_DMABUF_CLOEXEC,
            addr,
            length,
            fd: -1,
            ..Default::default()
        };
        sys::dmabuf(self.file.as_fd(), &mut d).map_err(|e| err(Command::Dmabuf, e))
    }

    /// `P2PMM_IOC_BLKIO`, device to memory: block device `file` (open for reading) writes `buf` by
    /// DMA with its bytes from byte `offset` on. Pages of `buf` on a managed provider stay there
    /// (reached through the provider's BAR where the device's route to it is direct, else through a
    /// bounce page); static memory is reached through its BAR, or the call fails (`EREMOTEIO`).
    /// `buf`'s address, its length and `offset` are multiples of the device's logical block size
    /// (`EINVAL` otherwise, and for a file that is not a block device). The reply says how many
    /// bytes took each path.
    pub fn blkio_read(&self, file: &impl AsFd, buf: &mut [u8], offset: u64) -> Result<BlkioDone> {
        self.blkio(file, BlkioBuf::Read(buf), offset)
    }

    /// `P2PMM_IOC_BLKIO`, memory to device: block device `file` (open for writing) reads `buf` by
    /// DMA into its bytes from byte `offset` on; otherwise as [`Device::blkio_read`].
    pub fn blkio_write(&self, file: &impl AsFd, buf: &[u8], offset: u64) -> Result<BlkioDone> {
        self.blkio(file, BlkioBuf::Write(buf), offset)
    }

    fn blkio(&self, file: &impl AsFd, buf: BlkioBuf<'_>, offset: u64) -> Result<BlkioDone> {
        let r = sys::blkio(self.file.as_fd(), file.as_fd(), buf, offset)
            .map_err(|e| err(Command::Blkio, e))?;
        Ok(BlkioDone {
            p2p: r.bytes_p2p,
            system: r.bytes_system,
            bounce: r.bytes_bounce,
            retries: r.retries,
        })
    }

    /// Maps `len` bytes of new memory of static provider `id` (`P2PMM_MMAP_OFFSET(id)`); dropping
    /// the mapping gives it back.
    pub fn map_static(&self, id: u32, len: usize) -> Result<Mapping> {
        Mapping::new(
            len,
            libc::MAP_SHARED,
            Some(self.file.as_fd()),
            raw::p2pmm_mmap_offset(id),
        )
        .map_err(|e| err(Call::Mmap, e))
    }
}

/// `len` bytes (rounded up to pages) of private anonymous memory: what managed providers move.
pub fn anonymous(len: usize) -> Result<Mapping> {
    let page = page_size();
    let len = len.div_ceil(page) * page;
    Mapping::new(len, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, None, 0)
        .map_err(|e| err(Call::Mmap, e))
}

fn err(call: impl Into<Call>, errno: i32) -> Error {
    Error {
        call: call.into(),
        errno,
    }
}

/// The string before the first NUL (lossy UTF-8).
fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for v in [0, 1, 2, 3, 4, 5, 6] {
            let r = Reason::from_raw(v);
            assert_eq!(r == Reason::Unknown(v), v > 5);
            assert_eq!(r.to_raw(), v);
        }
        assert_eq!(
            [0, 2, 9].map(|v| Reason::from_raw(v).name()),
            ["NONE", "ACS_REDIRECT", "REASON_9"]
        );
        assert_eq!(
            [1, 3, 7].map(|v| Plan::from_raw(v).name()),
            ["direct", "refused", "plan7"]
        );
        assert_eq!(Location::from_raw(0), Location::System);
        assert_eq!(Location::from_raw(u32::MAX), Location::None);
        assert_eq!(Location::from_raw(7), Location::Provider(7));
        for l in [Location::System, Location::None, Location::Provider(3)] {
            assert_eq!(Location::from_raw(l.to_raw()), l);
        }
        assert_eq!(Plan::from_raw(2), Plan::Bounce);
        assert_eq!(Verdict::from_raw(9), Verdict::Unknown(9));
        assert_eq!(ProviderKind::from_raw(2).name(), "managed");
    }

    #[test]
    fn route_from_raw() {
        let mut r = raw::Route {
            provider: 3,
            verdict: raw::P2PMM_ROUTE_NOT_SUPPORTED,
            plan: raw::P2PMM_PLAN_REFUSED,
            reason: raw::P2PMM_REASON_HOST_BRIDGE_NOT_ALLOWED,
            distance: -1,
            host_bridge: 0x8086_29c0,
            ..Default::default()
        };
        r.client[..12].copy_from_slice(b"0000:05:00.0");
        let route = Route::from_raw(&r);
        assert_eq!(route.client, "0000:05:00.0");
        assert_eq!(route.distance, None);
        assert_eq!(route.host_bridge, Some((0x8086, 0x29c0)));
        assert_eq!(route.plan, Plan::Refused);
        assert_eq!(route.reason.name(), "HOST_BRIDGE_NOT_ALLOWED");
    }

    #[test]
    fn errors_name_call_and_errno() {
        let e = Error {
            call: Call::Open(PathBuf::from("/dev/p2pmm")),
            errno: libc::EACCES,
        };
        assert_eq!(
            e.to_string(),
            "open /dev/p2pmm: permission denied (EACCES); the uAPI is root-only by default"
        );
        let e = Error {
            call: Call::Ioctl(Command::Route),
            errno: libc::ENODEV,
        };
        assert_eq!(
            e.to_string(),
            "P2PMM_IOC_ROUTE: no such device (ENODEV); unknown provider or client device"
        );
        let query = |errno| Error {
            call: Call::Ioctl(Command::Query),
            errno,
        };
        assert_eq!(
            query(libc::EPERM).to_string(),
            "P2PMM_IOC_QUERY: operation not permitted (EPERM); another process's memory needs \
             CAP_SYS_PTRACE or tracing it"
        );
        assert_eq!(
            query(libc::ESRCH).to_string(),
            "P2PMM_IOC_QUERY: no such process (ESRCH); no process with that pid (or one without an \
             address space, e.g. a kernel thread)"
        );
        assert!(query(libc::E2BIG).to_string().contains("takes no pid"));
        // EPERM of advise keeps its own meaning.
        assert!(Error {
            call: Call::Ioctl(Command::Advise),
            errno: libc::EPERM
        }
        .to_string()
        .contains("not the one that opened the file"));
    }

    #[test]
    fn query_struct_has_pid_since_version_3() {
        assert_eq!(raw::P2PMM_UAPI_VERSION, 6);
        assert_eq!(size_of::<raw::Query>() as u32, raw::P2PMM_QUERY_SIZE_VER1);
        assert_eq!(
            core::mem::offset_of!(raw::Query, pid) as u32,
            raw::P2PMM_QUERY_SIZE_VER0
        );
    }

    #[test]
    fn blkio_struct_is_the_cores() {
        use core::mem::offset_of;
        use p2pmm_core::uapi_blkio::{offset, SIZE};
        assert_eq!(size_of::<raw::Blkio>(), SIZE);
        assert_eq!(raw::P2PMM_BLKIO_SIZE_VER0 as usize, SIZE);
        for (rust, core) in [
            (offset_of!(raw::Blkio, flags), offset::FLAGS),
            (offset_of!(raw::Blkio, fd), offset::FD),
            (offset_of!(raw::Blkio, reserved), offset::RESERVED),
            (offset_of!(raw::Blkio, addr), offset::ADDR),
            (offset_of!(raw::Blkio, length), offset::LENGTH),
            (offset_of!(raw::Blkio, offset), offset::OFFSET),
            (offset_of!(raw::Blkio, bytes_p2p), offset::BYTES_P2P),
            (offset_of!(raw::Blkio, bytes_system), offset::BYTES_SYSTEM),
            (offset_of!(raw::Blkio, bytes_bounce), offset::BYTES_BOUNCE),
            (offset_of!(raw::Blkio, retries), offset::RETRIES),
        ] {
            assert_eq!(rust, core);
        }
    }

    #[test]
    fn blkio_errors_say_what_the_uapi_documents() {
        let blkio = |errno| Error {
            call: Call::Ioctl(Command::Blkio),
            errno,
        };
        assert_eq!(
            blkio(libc::EREMOTEIO).to_string(),
            "P2PMM_IOC_BLKIO: remote i/o error (EREMOTEIO); static memory the device cannot reach"
        );
        assert!(blkio(libc::EINVAL)
            .to_string()
            .contains("not a block device"));
        assert!(blkio(libc::EBADF)
            .to_string()
            .contains("(EBADF); the file is not open"));
        assert!(blkio(libc::ENOMEM)
            .to_string()
            .ends_with("part of the range is not mapped"));
        // The device's own error has no uAPI meaning of its own.
        assert_eq!(blkio(libc::EIO).meaning(), None);
    }

    #[test]
    fn blkio_of_a_file_that_is_not_p2pmm() {
        // /dev/null opens read-write but answers no p2pmm ioctl: the call reaches the kernel and
        // comes back as ENOTTY, in both directions.
        let dev = Device::open("/dev/null").unwrap();
        let file = File::open("/dev/null").unwrap();
        let mut m = anonymous(4096).unwrap();
        let e = dev.blkio_read(&file, m.as_mut_slice(), 0).unwrap_err();
        assert_eq!(
            (e.call, e.errno),
            (Call::Ioctl(Command::Blkio), libc::ENOTTY)
        );
        let e = dev.blkio_write(&file, m.as_slice(), 512).unwrap_err();
        assert_eq!(e.errno, libc::ENOTTY);
    }

    #[test]
    fn export_of_a_file_that_is_not_p2pmm() {
        // The call reaches the kernel and comes back as ENOTTY; no descriptor is made.
        let dev = Device::open("/dev/null").unwrap();
        let m = anonymous(4096).unwrap();
        let e = dev.export_dmabuf(m.addr(), 4096).unwrap_err();
        assert_eq!(
            (e.call, e.errno),
            (Call::Ioctl(Command::Dmabuf), libc::ENOTTY)
        );
        assert!(Error {
            call: Call::Ioctl(Command::Dmabuf),
            errno: libc::EOPNOTSUPP
        }
        .to_string()
        .contains("only static memory"));
    }

    #[test]
    fn open_missing_node() {
        let e = Device::open("/nonexistent/p2pmm").unwrap_err();
        assert_eq!(e.errno, libc::ENOENT);
        assert!(e.to_string().contains("is p2pmm.ko loaded?"), "{e}");
    }

    #[test]
    fn anonymous_memory_is_pages() {
        let mut m = anonymous(5000).unwrap();
        assert_eq!(m.len() % page_size(), 0);
        assert!(m.len() >= 5000);
        assert_eq!(m.addr() % page_size() as u64, 0);
        m.as_mut_slice().fill(7);
        assert!(m.as_slice().iter().all(|&b| b == 7));
    }

    #[test]
    fn feature_names() {
        let v = Version {
            version: 2,
            features: raw::P2PMM_FEATURE_VERSION
                | raw::P2PMM_FEATURE_ADVISE
                | raw::P2PMM_FEATURE_BLKIO
                | 1 << 9,
        };
        assert_eq!(v.feature_names(), ["version", "advise", "blkio", "bit9"]);
    }
}
