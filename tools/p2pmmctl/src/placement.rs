// SPDX-License-Identifier: GPL-2.0

//! `p2pmmctl prefetch`, `query` and `advise`: self-tests of the placement ioctls on a buffer
//! p2pmmctl allocates, and `query --pid` of another process's memory.
//!
//! `P2PMM_IOC_MIGRATE` and `_ADVISE` act on the caller's own address space (they take addresses of
//! the calling process, and no pid), so a command-line tool cannot place or advise another
//! process's memory. What it can do is show, on memory of its own, what each call does: allocate,
//! fill, place, query, and check that the data survived every move. `P2PMM_IOC_QUERY` takes a pid
//! since uAPI version 3 (another process needs `CAP_SYS_PTRACE`), so `query --pid PID --addr A
//! --len L` shows where another process's pages are; `prefetch --hold` keeps a placed buffer alive
//! for that.

use crate::output::{human_bytes, to_json, Table};
use crate::Failure;
use p2pmm_uapi::{anonymous, page_size, Advice, Device, Location, Mapping, Provider, ProviderKind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The process `--pid` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PidArg {
    /// `self`: p2pmmctl itself.
    Own,
    /// A process id.
    Pid(u32),
}

/// `--pid self|PID`.
pub(crate) fn parse_pid(s: &str) -> Result<PidArg, String> {
    if s == "self" {
        return Ok(PidArg::Own);
    }
    s.parse()
        .map(PidArg::Pid)
        .map_err(|_| format!("'{s}' is not a process id (a number, or 'self')"))
}

/// `--addr`: an address, hexadecimal with `0x` (as `prefetch --hold` prints it; `/proc/PID/maps`
/// prints it without the prefix) or decimal.
pub(crate) fn parse_addr(s: &str) -> Result<u64, String> {
    let t = s.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    }
    .map_err(|_| {
        format!("'{s}' is not an address (hexadecimal with 0x, e.g. 0x7f1234560000, or decimal)")
    })
}

/// `--len`: a size (`4096`, `64K`, `1M`) or a hexadecimal byte count (`0x100000`).
pub(crate) fn parse_len(s: &str) -> Result<u64, String> {
    match s.trim().strip_prefix("0x") {
        Some(hex) => match u64::from_str_radix(hex, 16) {
            Ok(0) => Err("the length must be more than 0".into()),
            Ok(n) => Ok(n),
            Err(_) => Err(format!("'{s}' is not a length (e.g. 4096, 1M, 0x100000)")),
        },
        None => crate::output::parse_size(s),
    }
}

/// The memory a placement command acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// A buffer p2pmmctl allocates: the self-test.
    Own,
    /// `[addr, addr + len)` of process `pid` (query only).
    Process { pid: u32, addr: u64, len: u64 },
}

/// What `--pid`, `--addr` and `--len` name for command `cmd` (`prefetch`, `query`, `advise`):
/// another process only for `query`, with a page-aligned range; p2pmmctl itself (`self`, its own
/// pid, or no `--pid`) without a range. Anything else is refused with one line, exit 2.
pub(crate) fn resolve_target(
    cmd: &str,
    pid: Option<PidArg>,
    addr: Option<u64>,
    len: Option<u64>,
    own_pid: u32,
    page: u64,
) -> Result<Target, Failure> {
    let other = match pid {
        Some(PidArg::Pid(p)) if p != own_pid => Some(p),
        _ => None,
    };
    let Some(p) = other else {
        if addr.is_some() || len.is_some() {
            return Err(Failure::usage(
                "--addr/--len would name memory inside p2pmmctl itself, which only p2pmmctl \
                allocates: use \
                 --size for a buffer of its own, or --pid PID for another process's (query)"
                    .into(),
            ));
        }
        return Ok(Target::Own);
    };
    let (ioctl, verb) = match cmd {
        "query" => ("", ""),
        "advise" => ("P2PMM_IOC_ADVISE", "advised"),
        _ => ("P2PMM_IOC_MIGRATE", "placed"),
    };
    if !ioctl.is_empty() {
        return Err(Failure::usage(format!(
            "--pid {p}: {cmd} acts on the caller's own address space only ({ioctl} takes no pid), \
            so another \
             process's memory can only be {verb} from inside that process; \
             'p2pmmctl query --pid {p} --addr ADDR \
             --len LEN' shows where it is"
        )));
    }
    let (Some(addr), Some(len)) = (addr, len) else {
        return Err(Failure::usage(format!(
            "--pid {p}: a query of another process needs --addr and --len (a range of its memory, \
            e.g. from \
             /proc/{p}/maps)"
        )));
    };
    if addr % page != 0 {
        return Err(Failure::usage(format!(
            "--addr {addr:#x}: not page aligned (pages are {page} bytes)"
        )));
    }
    if len % page != 0 || addr.checked_add(len).is_none() {
        return Err(Failure::usage(format!(
            "--len {len}: not a whole number of pages ({page} bytes) inside the address space"
        )));
    }
    Ok(Target::Process { pid: p, addr, len })
}

/// The line `prefetch --hold` prints once its buffer is placed: `holding <addr> <len> pid <pid>`,
/// the address in hex, the length in bytes, ready for `query --pid <pid> --addr <addr> --len
/// <len>`.
pub(crate) fn holding_line(addr: u64, len: u64, pid: u32) -> String {
    format!("holding {addr:#x} {len} pid {pid}")
}

/// `system` or a provider id, a number read as the uAPI reads a location: 0
/// (`P2PMM_LOCATION_SYSTEM`) is system memory, `P2PMM_LOCATION_NONE` is no target.
pub(crate) fn parse_location(s: &str) -> Result<Location, String> {
    if s == "system" {
        return Ok(Location::System);
    }
    match s.parse::<u32>().map(Location::from_raw) {
        Ok(Location::None) | Err(_) => Err(format!("'{s}' is not a provider id or 'system'")),
        Ok(l) => Ok(l),
    }
}

/// How many pages are where.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Placement {
    pub(crate) system: u64,
    pub(crate) none: u64,
    pub(crate) providers: BTreeMap<u32, u64>,
}

impl Placement {
    pub(crate) fn of(locations: &[Location]) -> Placement {
        let mut p = Placement::default();
        for l in locations {
            match l {
                Location::System => p.system += 1,
                Location::None => p.none += 1,
                Location::Provider(id) => *p.providers.entry(*id).or_default() += 1,
            }
        }
        p
    }

    pub(crate) fn on(&self, l: Location) -> u64 {
        match l {
            Location::System => self.system,
            Location::None => self.none,
            Location::Provider(id) => self.providers.get(&id).copied().unwrap_or(0),
        }
    }

    /// "provider 4: 1024 pages, system: 0 pages" (only the places that have pages).
    pub(crate) fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .providers
            .iter()
            .map(|(id, n)| format!("provider {id}: {n} pages"))
            .collect();
        if self.system > 0 {
            parts.push(format!("system: {} pages", self.system));
        }
        if self.none > 0 {
            parts.push(format!("not populated: {} pages", self.none));
        }
        if parts.is_empty() {
            "no pages".into()
        } else {
            parts.join(", ")
        }
    }
}

/// Runs of consecutive pages at the same place: (first page, last page, location).
pub(crate) fn runs(locations: &[Location]) -> Vec<(usize, usize, Location)> {
    let mut out: Vec<(usize, usize, Location)> = Vec::new();
    for (i, l) in locations.iter().enumerate() {
        match out.last_mut() {
            Some((_, last, at)) if at == l => *last = i,
            _ => out.push((i, i, *l)),
        }
    }
    out
}

fn location_name(l: Location) -> String {
    match l {
        Location::None => "not populated".into(),
        l => l.to_string(),
    }
}

/// The byte at offset `i` of a buffer written with `seed`: neighbours differ, so a misplaced page
/// shows.
fn pattern(i: usize, seed: u8) -> u8 {
    ((i as u64).wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed
}

fn fill(buf: &mut [u8], seed: u8) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = pattern(i, seed);
    }
}

/// The offset of the first byte that is not the pattern.
fn first_bad(buf: &[u8], seed: u8) -> Option<usize> {
    buf.iter()
        .enumerate()
        .position(|(i, &b)| b != pattern(i, seed))
}

/// The provider a location names, checked to be a managed one (the only kind memory moves to).
fn managed_target(
    providers: &[Provider],
    l: Location,
    what: &str,
) -> Result<Option<Provider>, Failure> {
    let Location::Provider(id) = l else {
        return Ok(None);
    };
    let p = providers.iter().find(|p| p.info.id == id).ok_or_else(|| {
        Failure::new(format!(
            "no provider {id} ('p2pmmctl providers' lists them)"
        ))
    })?;
    match p.kind {
        ProviderKind::Managed => Ok(Some(p.clone())),
        _ => Err(Failure::new(format!(
            "provider {id} is {} ({}): {what} needs a managed provider (static memory is \
            allocated by mmap at \
             P2PMM_MMAP_OFFSET, it is never migrated to)",
            p.kind.name(),
            p.device
        ))),
    }
}

fn target_name(l: Location, p: Option<&Provider>) -> String {
    match p {
        Some(p) => format!("provider {} ({}, {})", p.info.id, p.kind.name(), p.device),
        None => location_name(l),
    }
}

fn buffer(size: u64) -> Result<Mapping, Failure> {
    let size = usize::try_from(size)
        .map_err(|_| Failure::new("the size does not fit this machine".into()))?;
    Ok(anonymous(size)?)
}

fn pages(len: usize) -> u64 {
    (len / page_size()) as u64
}

/// Lines of `name  value` pairs, aligned.
fn report(lines: &[(String, String)]) -> String {
    let mut t = Table::new(&["", ""]);
    for (k, v) in lines {
        t.row(vec![format!("  {k}"), v.clone()]);
    }
    // Drop the empty header line.
    t.render()
        .lines()
        .skip(1)
        .map(|l| format!("{l}\n"))
        .collect()
}

/// What a subcommand prints: text for people, or JSON.
pub(crate) struct Outcome {
    pub(crate) text: String,
    /// Pretty-printed JSON.
    pub(crate) json: String,
    /// A check of the self-test that failed, reported after the output (exit 1).
    pub(crate) failed: Option<String>,
}

#[derive(Serialize)]
struct MoveJson {
    target: String,
    migrated: u64,
    evicted: u64,
}

#[derive(Serialize)]
struct PrefetchJson {
    size: usize,
    pages: u64,
    prefetch: MoveJson,
    placement_before: Placement,
    placement: Placement,
    placement_after_read: Placement,
    data_ok: bool,
}

#[derive(Serialize)]
struct RunJson {
    first: usize,
    last: usize,
    location: String,
}

#[derive(Serialize)]
struct QueryJson {
    size: usize,
    pages: u64,
    filled: usize,
    prefetch: Option<MoveJson>,
    placement: Placement,
    runs: Vec<RunJson>,
}

#[derive(Serialize)]
struct PressureJson {
    size: u64,
    migrated: u64,
    evicted: u64,
}

#[derive(Serialize, Default)]
struct AdviseJson {
    size: u64,
    pages: u64,
    advice: Vec<String>,
    prefetch: Option<MoveJson>,
    placement: Option<Placement>,
    pressure: Option<PressureJson>,
    placement_after_pressure: Option<Placement>,
    data_ok: bool,
}

/// `p2pmmctl prefetch --size S --to T`. `placed(addr, len)` is called once the buffer is placed and
/// queried, before the CPU reads it back (which brings its pages to system memory): `--hold` waits
/// there.
pub(crate) fn prefetch(
    dev: &Device,
    size: u64,
    to: Location,
    placed_hook: impl FnOnce(u64, u64) -> Result<(), Failure>,
) -> Result<Outcome, Failure> {
    let providers = dev.providers()?;
    let target = managed_target(&providers, to, "prefetch")?;
    let mut buf = buffer(size)?;
    let n = pages(buf.len());
    fill(buf.as_mut_slice(), 1);
    let before = dev.query(buf.addr(), buf.len() as u64)?;
    let m = dev.migrate(buf.addr(), buf.len() as u64, to)?;
    let placed = Placement::of(&dev.query(buf.addr(), buf.len() as u64)?);
    let during = match &target {
        Some(t) => dev.provider(t.info.id)?,
        None => None,
    };
    placed_hook(buf.addr(), buf.len() as u64)?;
    let bad = first_bad(buf.as_slice(), 1);
    let after_read = Placement::of(&dev.query(buf.addr(), buf.len() as u64)?);

    let name = target_name(to, target.as_ref());
    let mut lines = vec![
        ("before".into(), Placement::of(&before).describe()),
        (
            "migrated".into(),
            format!(
                "{} pages (evicted {} from the target to make room)",
                m.migrated, m.evicted
            ),
        ),
        ("placement".into(), placed.describe()),
    ];
    if let (Some(t), Some(d)) = (&target, &during) {
        lines.push((
            format!("provider {}", t.info.id),
            format!(
                "used {} of {} (was {})",
                human_bytes(d.info.used),
                human_bytes(d.info.capacity),
                human_bytes(t.info.used)
            ),
        ));
    }
    lines.push((
        "data check".into(),
        match bad {
            None => format!("ok, {} bytes read back by the CPU", buf.len()),
            Some(off) => format!("FAILED at byte {off}"),
        },
    ));
    lines.push((
        "after read".into(),
        format!(
            "{} (CPU access brings pages to system memory)",
            after_read.describe()
        ),
    ));
    let text = format!(
        "prefetch self-test: {} ({n} pages) of p2pmmctl's own memory to {name}\n{}",
        human_bytes(buf.len() as u64),
        report(&lines)
    );
    let json = to_json(
        &PrefetchJson {
            size: buf.len(),
            pages: n,
            prefetch: MoveJson {
                target: location_name(to),
                migrated: m.migrated,
                evicted: m.evicted,
            },
            placement_before: Placement::of(&before),
            placement: placed,
            placement_after_read: after_read,
            data_ok: bad.is_none(),
        },
        true,
    );
    Ok(Outcome {
        text,
        json,
        failed: bad.map(|off| {
            format!("data check failed: byte {off} of the buffer differs after the move")
        }),
    })
}

/// `p2pmmctl query --size S [--fill F] [--prefetch-to T [--prefetch-size P]]`.
pub(crate) fn query(
    dev: &Device,
    size: u64,
    fill_size: Option<u64>,
    prefetch_to: Option<Location>,
    prefetch_size: Option<u64>,
) -> Result<Outcome, Failure> {
    let providers = dev.providers()?;
    let target = match prefetch_to {
        Some(l) => managed_target(&providers, l, "--prefetch-to")?,
        None => None,
    };
    let mut buf = buffer(size)?;
    let page = page_size() as u64;
    let clamp = |s: Option<u64>| {
        s.map_or(buf.len() as u64, |s| {
            (s.div_ceil(page) * page).min(buf.len() as u64)
        })
    };
    let filled = clamp(fill_size) as usize;
    let moved_len = clamp(prefetch_size);
    fill(&mut buf.as_mut_slice()[..filled], 1);
    let mut lines = Vec::new();
    let mut moved = None;
    if let Some(to) = prefetch_to {
        let m = dev.migrate(buf.addr(), moved_len, to)?;
        lines.push((
            "prefetch".into(),
            format!(
                "first {} to {}: migrated {} pages, evicted {}",
                human_bytes(moved_len),
                target_name(to, target.as_ref()),
                m.migrated,
                m.evicted
            ),
        ));
        moved = Some(MoveJson {
            target: location_name(to),
            migrated: m.migrated,
            evicted: m.evicted,
        });
    }
    let locations = dev.query(buf.addr(), buf.len() as u64)?;
    let placement = Placement::of(&locations);
    lines.push(("placement".into(), placement.describe()));
    let (table, runs_json) = runs_table(&locations, page);
    let text = format!(
        "query self-test: {} ({} pages) of p2pmmctl's own memory, first {} written\n{}\n{table}",
        human_bytes(buf.len() as u64),
        pages(buf.len()),
        human_bytes(filled as u64),
        report(&lines),
    );
    let json = to_json(
        &QueryJson {
            size: buf.len(),
            pages: pages(buf.len()),
            filled,
            prefetch: moved,
            placement,
            runs: runs_json,
        },
        true,
    );
    Ok(Outcome {
        text,
        json,
        failed: None,
    })
}

/// The table of runs of pages at one place (`PAGES`, `BYTES` as offsets from the start of the
/// range, `LOCATION`), and the same runs for JSON.
fn runs_table(locations: &[Location], page: u64) -> (String, Vec<RunJson>) {
    let mut t = Table::new(&["PAGES", "BYTES", "LOCATION"]);
    let mut runs_json = Vec::new();
    for (first, last, l) in runs(locations) {
        t.row(vec![
            format!("{first}-{last}"),
            format!(
                "{:#x}-{:#x}",
                first as u64 * page,
                (last as u64 + 1) * page - 1
            ),
            location_name(l),
        ]);
        runs_json.push(RunJson {
            first,
            last,
            location: location_name(l),
        });
    }
    (t.render(), runs_json)
}

#[derive(Serialize)]
struct ProcessQueryJson {
    pid: u32,
    comm: Option<String>,
    addr: u64,
    length: u64,
    pages: u64,
    placement: Placement,
    runs: Vec<RunJson>,
}

/// The name of process `pid` (`/proc/PID/comm`), when it can be read.
fn comm(pid: u32) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(s.trim_end().to_string()).filter(|s| !s.is_empty())
}

/// `p2pmmctl query --pid PID --addr A --len L`: where each page of another process's range is.
pub(crate) fn query_process(
    dev: &Device,
    pid: u32,
    addr: u64,
    len: u64,
) -> Result<Outcome, Failure> {
    let locations = dev
        .query_pid(pid, addr, len)
        .map_err(|e| Failure::new(format!("--pid {pid}: {e}")))?;
    Ok(process_outcome(
        pid,
        comm(pid),
        addr,
        len,
        &locations,
        page_size() as u64,
    ))
}

/// The output of [`query_process`]: the self-test's table, headed by the process and the range.
fn process_outcome(
    pid: u32,
    comm: Option<String>,
    addr: u64,
    len: u64,
    locations: &[Location],
    page: u64,
) -> Outcome {
    let placement = Placement::of(locations);
    let (table, runs_json) = runs_table(locations, page);
    let name = comm.as_ref().map(|c| format!(" ({c})")).unwrap_or_default();
    let text = format!(
        "query of process {pid}{name}: {} ({} pages) at {addr:#x}\n{}\n{table}",
        human_bytes(len),
        locations.len(),
        report(&[("placement".into(), placement.describe())]),
    );
    let json = to_json(
        &ProcessQueryJson {
            pid,
            comm,
            addr,
            length: len,
            pages: locations.len() as u64,
            placement,
            runs: runs_json,
        },
        true,
    );
    Outcome {
        text,
        json,
        failed: None,
    }
}

/// What `p2pmmctl advise` is asked to do.
#[derive(Debug, Default)]
pub(crate) struct AdviseRequest {
    pub(crate) size: u64,
    pub(crate) advice: Vec<Advice>,
    pub(crate) prefetch_to: Option<Location>,
    pub(crate) pressure: Option<u64>,
}

/// Streams `len` bytes of fresh memory through `target` in 1 MiB prefetches, so it must evict to
/// make room.
fn pressure(dev: &Device, target: Location, len: u64) -> Result<(u64, u64), Failure> {
    let mut buf = buffer(len)?;
    buf.as_mut_slice().fill(0x5a);
    // Pages placed earlier must outlive the provider's minimum residency time slice before they can
    // be evicted.
    std::thread::sleep(Duration::from_millis(20));
    let (mut migrated, mut evicted) = (0, 0);
    let chunk = 1u64 << 20;
    let mut off = 0;
    while off < buf.len() as u64 {
        let m = dev.migrate(buf.addr() + off, chunk.min(buf.len() as u64 - off), target)?;
        migrated += m.migrated;
        evicted += m.evicted;
        off += chunk;
    }
    Ok((migrated, evicted))
}

/// `p2pmmctl advise --size S <advice...> [--prefetch-to T] [--pressure P]`.
pub(crate) fn advise(dev: &Device, req: &AdviseRequest) -> Result<Outcome, Failure> {
    let providers = dev.providers()?;
    let target = match req.prefetch_to {
        Some(l) => managed_target(&providers, l, "--prefetch-to")?,
        None => None,
    };
    for a in &req.advice {
        if let Advice::PreferredLocation(Location::Provider(id)) | Advice::AccessedBy(id) = a {
            if !providers.iter().any(|p| p.info.id == *id) {
                return Err(Failure::new(format!(
                    "no provider {id} ('p2pmmctl providers' lists them)"
                )));
            }
        }
    }
    let mut buf = buffer(req.size)?;
    let (addr, len) = (buf.addr(), buf.len() as u64);
    fill(buf.as_mut_slice(), 2);
    let mut lines = Vec::new();
    for a in &req.advice {
        dev.advise(addr, len, *a)?;
        lines.push(("advice".into(), format!("{a}: applied")));
    }
    let mut json = AdviseJson {
        size: len,
        pages: pages(buf.len()),
        advice: req.advice.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    };
    let mut failed = None;
    if let Some(to) = req.prefetch_to {
        let m = dev.migrate(addr, len, to)?;
        let placed = Placement::of(&dev.query(addr, len)?);
        lines.push((
            "prefetch".into(),
            format!(
                "to {}: migrated {} pages, evicted {}",
                target_name(to, target.as_ref()),
                m.migrated,
                m.evicted
            ),
        ));
        lines.push(("placement".into(), placed.describe()));
        json.prefetch = Some(MoveJson {
            target: location_name(to),
            migrated: m.migrated,
            evicted: m.evicted,
        });
        if let Some(p) = req.pressure {
            let (migrated, evicted) = pressure(dev, to, p)?;
            let after = Placement::of(&dev.query(addr, len)?);
            let (was, now) = (placed.on(to), after.on(to));
            lines.push((
                "pressure".into(),
                format!(
                    "streamed {} of other memory through {to}: migrated {migrated} pages, evicted \
                    {evicted}",
                    human_bytes(p)
                ),
            ));
            lines.push((
                "placement".into(),
                format!(
                    "{} ({now} of the {was} advised pages on {to} stayed)",
                    after.describe()
                ),
            ));
            json.pressure = Some(PressureJson {
                size: p,
                migrated,
                evicted,
            });
            json.placement_after_pressure = Some(after);
            if req.advice.contains(&Advice::Pin) && now < was {
                failed = Some(format!(
                    "pin not honoured: {} pinned pages were evicted from {to}",
                    was - now
                ));
            }
        }
        json.placement = Some(placed);
    }
    let bad = first_bad(buf.as_slice(), 2);
    lines.push((
        "data check".into(),
        match bad {
            None => format!("ok, {len} bytes read back by the CPU"),
            Some(off) => format!("FAILED at byte {off}"),
        },
    ));
    json.data_ok = bad.is_none();
    if let Some(off) = bad {
        failed = Some(format!(
            "data check failed: byte {off} of the buffer differs"
        ));
    }
    let text = format!(
        "advise self-test: {} ({} pages) of p2pmmctl's own memory (advice lasts until p2pmmctl \
        exits)\n{}",
        human_bytes(len),
        pages(buf.len()),
        report(&lines)
    );
    Ok(Outcome {
        text,
        json: to_json(&json, true),
        failed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_of_another_process_only_for_query() {
        let own = std::process::id();
        let page = 4096;
        let t = |cmd, pid, addr, len| resolve_target(cmd, pid, addr, len, own, page);
        for cmd in ["prefetch", "query", "advise"] {
            assert_eq!(t(cmd, None, None, None).unwrap(), Target::Own);
            assert_eq!(t(cmd, Some(PidArg::Own), None, None).unwrap(), Target::Own);
            assert_eq!(
                t(cmd, Some(PidArg::Pid(own)), None, None).unwrap(),
                Target::Own
            );
            let e = t(cmd, Some(PidArg::Own), Some(0x1000), None).unwrap_err();
            assert_eq!(e.code, 2);
            assert!(e
                .msg
                .starts_with("--addr/--len would name memory inside p2pmmctl"));
        }
        assert_eq!(
            t(
                "query",
                Some(PidArg::Pid(1)),
                Some(0x7f00_0000_0000),
                Some(1 << 20)
            )
            .unwrap(),
            Target::Process {
                pid: 1,
                addr: 0x7f00_0000_0000,
                len: 1 << 20
            }
        );
        for (cmd, ioctl) in [
            ("prefetch", "P2PMM_IOC_MIGRATE"),
            ("advise", "P2PMM_IOC_ADVISE"),
        ] {
            let e = t(cmd, Some(PidArg::Pid(1)), Some(0x1000), Some(4096)).unwrap_err();
            assert_eq!(e.code, 2);
            assert!(
                e.msg.starts_with(&format!(
                    "--pid 1: {cmd} acts on the caller's own address space only ({ioctl} takes no \
                    pid)"
                )),
                "{}",
                e.msg
            );
            assert!(e
                .msg
                .contains("'p2pmmctl query --pid 1 --addr ADDR --len LEN'"));
            assert!(!e.msg.contains('\n'));
        }
        let e = t("query", Some(PidArg::Pid(1)), None, Some(4096)).unwrap_err();
        assert_eq!(e.code, 2);
        assert!(
            e.msg
                .starts_with("--pid 1: a query of another process needs --addr and --len"),
            "{}",
            e.msg
        );
        let e = t("query", Some(PidArg::Pid(1)), Some(0x1800), Some(4096)).unwrap_err();
        assert_eq!(
            e.msg,
            "--addr 0x1800: not page aligned (pages are 4096 bytes)"
        );
        let e = t("query", Some(PidArg::Pid(1)), Some(0x1000), Some(5000)).unwrap_err();
        assert!(e.msg.starts_with("--len 5000: not a whole number of pages"));
        let e = t(
            "query",
            Some(PidArg::Pid(1)),
            Some(u64::MAX - 4095),
            Some(8192),
        )
        .unwrap_err();
        assert_eq!(e.code, 2);
        assert_eq!(parse_pid("self"), Ok(PidArg::Own));
        assert_eq!(parse_pid("42"), Ok(PidArg::Pid(42)));
        assert!(parse_pid("init").is_err());
    }

    #[test]
    fn addresses_and_lengths_parse() {
        assert_eq!(parse_addr("0x7f0000001000"), Ok(0x7f00_0000_1000));
        assert_eq!(parse_addr("0X1000"), Ok(0x1000));
        assert!(parse_addr("7f0000001000").is_err(), "hex needs its 0x");
        assert_eq!(parse_addr("4096"), Ok(4096));
        assert!(parse_addr("0x").is_err());
        assert!(parse_addr("somewhere").is_err());
        assert!(parse_addr("0x10000000000000000").is_err());
        assert_eq!(parse_len("1048576"), Ok(1 << 20));
        assert_eq!(parse_len("1M"), Ok(1 << 20));
        assert_eq!(parse_len("0x100000"), Ok(1 << 20));
        assert!(parse_len("0x0").is_err());
        assert!(parse_len("0").is_err());
        assert!(parse_len("0xzz").is_err());
    }

    #[test]
    fn holding_line_feeds_query() {
        let line = holding_line(0x7f12_3456_0000, 1 << 20, 4321);
        assert_eq!(line, "holding 0x7f1234560000 1048576 pid 4321");
        // What the guest test does with it: the fields are --addr, --len and --pid as they parse.
        let w: Vec<&str> = line.split(' ').collect();
        assert_eq!(parse_addr(w[1]), Ok(0x7f12_3456_0000));
        assert_eq!(parse_len(w[2]), Ok(1 << 20));
        assert_eq!(parse_pid(w[4]), Ok(PidArg::Pid(4321)));
    }

    #[test]
    fn process_query_output() {
        use Location::*;
        let mut locs = vec![Provider(2); 4];
        locs.extend([System, None]);
        let o = process_outcome(
            77,
            Some("app".into()),
            0x7f00_0000_0000,
            6 * 4096,
            &locs,
            4096,
        );
        assert_eq!(
            o.text,
            "query of process 77 (app): 24 KiB (6 pages) at 0x7f0000000000\n\
             \x20 placement  provider 2: 4 pages, system: 1 pages, not populated: 1 pages\n\
             \n\
             PAGES  BYTES          LOCATION\n\
             0-3    0x0-0x3fff     provider 2\n\
             4-4    0x4000-0x4fff  system\n\
             5-5    0x5000-0x5fff  not populated\n"
        );
        assert!(o.failed.is_none());
        let v: serde_json::Value = serde_json::from_str(&o.json).unwrap();
        assert_eq!(v["pid"], 77);
        assert_eq!(v["comm"], "app");
        assert_eq!(v["addr"], 0x7f00_0000_0000u64);
        assert_eq!(v["length"], 6 * 4096);
        assert_eq!(v["pages"], 6);
        assert_eq!(v["placement"]["providers"]["2"], 4);
        assert_eq!(v["runs"][0]["location"], "provider 2");
        assert_eq!(v["runs"][2]["first"], 5);
        let o = process_outcome(5, Option::None, 0x1000, 4096, &[Provider(3)], 4096);
        assert!(o
            .text
            .starts_with("query of process 5: 4 KiB (1 pages) at 0x1000\n"));
        assert!(o.json.contains("\"comm\": null"));
    }

    #[test]
    fn locations_parse() {
        assert_eq!(parse_location("system"), Ok(Location::System));
        assert_eq!(parse_location("0"), Ok(Location::System));
        assert_eq!(parse_location("4"), Ok(Location::Provider(4)));
        assert!(parse_location("4294967295").is_err());
        assert!(parse_location("vram").is_err());
    }

    #[test]
    fn placement_counts_and_runs() {
        use Location::*;
        let locs = [
            Provider(4),
            Provider(4),
            System,
            None,
            None,
            Provider(5),
            Provider(4),
        ];
        let p = Placement::of(&locs);
        assert_eq!(
            (p.system, p.none, p.on(Provider(4)), p.on(Provider(5))),
            (1, 2, 3, 1)
        );
        assert_eq!(
            p.describe(),
            "provider 4: 3 pages, provider 5: 1 pages, system: 1 pages, not populated: 2 pages"
        );
        assert_eq!(
            runs(&locs),
            [
                (0, 1, Provider(4)),
                (2, 2, System),
                (3, 4, None),
                (5, 5, Provider(5)),
                (6, 6, Provider(4))
            ]
        );
        assert_eq!(Placement::default().describe(), "no pages");
        let v = crate::output::parse_json(&p);
        assert_eq!(v["providers"]["4"], 3);
        assert_eq!(v["none"], 2);
    }

    #[test]
    fn pattern_detects_a_moved_page() {
        let mut b = vec![0u8; 3 * 4096];
        fill(&mut b, 1);
        assert_eq!(first_bad(&b, 1), Option::None);
        b.copy_within(0..4096, 4096);
        assert_eq!(first_bad(&b, 1), Some(4096));
    }

    #[test]
    fn targets_must_be_managed() {
        let ps = crate::providers::tests::fake_providers();
        assert_eq!(
            managed_target(&ps, Location::System, "x").unwrap(),
            Option::None
        );
        assert_eq!(
            managed_target(&ps, Location::Provider(3), "x")
                .unwrap()
                .unwrap()
                .info
                .id,
            3
        );
        let e = managed_target(&ps, Location::Provider(2), "prefetch").unwrap_err();
        assert!(
            e.msg.starts_with(
                "provider 2 is static (0000:04:00.0): prefetch needs a managed provider"
            ),
            "{}",
            e.msg
        );
        let e = managed_target(&ps, Location::Provider(42), "prefetch").unwrap_err();
        assert_eq!(e.msg, "no provider 42 ('p2pmmctl providers' lists them)");
        assert_eq!(e.code, 1);
    }
}
