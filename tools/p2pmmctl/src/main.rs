// SPDX-License-Identifier: GPL-2.0

//! p2pmmctl: the command-line face of p2pmm's `/dev/p2pmm`.
//!
//! `providers`, `topo` and `stats` show what device memory p2pmm manages, which path each device's
//! mappings of it take (and why not, when not), and the providers' counters. `prefetch`, `query`
//! and `advise` exercise the placement ioctls on memory p2pmmctl allocates itself, because migrate
//! and advise act on the caller's own address space; `query --pid PID --addr A --len L` shows where
//! another process's pages are (uAPI version 3, `CAP_SYS_PTRACE`), and `prefetch --hold` keeps a
//! placed buffer alive to look at that way. Errors are one line on stderr and a non-zero exit code:
//! 1 for a failure, 2 for a command that cannot work.

mod cgroups;
mod dmabufs;
mod output;
mod placement;
mod providers;
mod sysfs;
mod topo;
mod transfer;

use clap::{ArgGroup, Args, Parser, Subcommand};
use p2pmm_uapi::{raw, Advice, Call, Device, Location};
use placement::{parse_addr, parse_len, parse_location, parse_pid, PidArg, Target};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A failure: the one line printed on stderr, and the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) msg: String,
}

impl Failure {
    /// Something went wrong (exit 1).
    pub(crate) fn new(msg: String) -> Failure {
        Failure { code: 1, msg }
    }

    /// The command cannot work as asked (exit 2, as for a usage error).
    pub(crate) fn usage(msg: String) -> Failure {
        Failure { code: 2, msg }
    }
}

impl From<p2pmm_uapi::Error> for Failure {
    fn from(e: p2pmm_uapi::Error) -> Failure {
        let msg = match &e.call {
            // "/dev/p2pmm: permission denied (the uAPI is root-only by default)"
            Call::Open(path) => match e.meaning() {
                Some(m) => format!(
                    "{}: {} ({m})",
                    path.display(),
                    e.description().to_lowercase()
                ),
                None => format!("{}: {}", path.display(), e.description().to_lowercase()),
            },
            _ => e.to_string(),
        };
        Failure::new(msg)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::new(format!("writing the output: {e}"))
    }
}

/// p2pmmctl: inspect p2pmm, the PCIe peer-to-peer memory manager (/dev/p2pmm).
#[derive(Debug, Parser)]
#[command(
    name = "p2pmmctl",
    version,
    propagate_version = true,
    arg_required_else_help = true
)]
pub(crate) struct Cli {
    /// The p2pmm device node.
    #[arg(long, global = true, value_name = "PATH", default_value = p2pmm_uapi::DEFAULT_PATH)]
    device: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Is p2pmm there, and what does the running kernel implement? (uAPI version, features,
    /// providers)
    Version(JsonArg),
    /// List the providers: device memory p2pmm manages (static BARs, managed device memory).
    Providers(JsonArg),
    /// The P2P route matrix: how each device reaches each provider's memory, and why not when it
    /// cannot.
    Topo {
        /// Also list every PCI device in sysfs as a client, not only the providers' devices.
        #[arg(long)]
        all_pci: bool,
        /// Where sysfs is mounted (for tests).
        #[arg(long, value_name = "DIR", default_value = "/sys", hide = true)]
        sysfs: PathBuf,
        #[command(flatten)]
        json: JsonArg,
    },
    /// The providers' counters: use, evictions, pages migrated in and out, invalidations.
    Stats {
        /// Print a new sample every SECS seconds (e.g. 1, 0.5, 250ms); changes since the previous
        /// one show as (+N).
        #[arg(long, value_name = "SECS", value_parser = output::parse_duration)]
        watch: Option<Duration>,
        /// Stop after N samples (with --watch).
        #[arg(
            long,
            value_name = "N",
            requires = "watch",
            value_parser = clap::value_parser!(u64).range(1..),
        )]
        count: Option<u64>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// How much of each provider each cgroup holds, and its limits: the dmem cgroup controller's
    /// dmem.current, dmem.max, dmem.min and dmem.low for p2pmm's regions (p2pmm/<pci name>/<kind>).
    Cgroups {
        /// Every cgroup and region, also those that hold nothing and set nothing.
        #[arg(long)]
        all: bool,
        /// Where cgroup2 is mounted.
        #[arg(long, value_name = "DIR", default_value = "/sys/fs/cgroup")]
        cgroup_root: PathBuf,
        #[command(flatten)]
        json: JsonArg,
    },
    /// The dma-bufs exported from p2pmm memory (P2PMM_IOC_DMABUF) and the devices attached to
    /// each, from the kernel's list of dma-bufs (debugfs, root).
    Dmabufs {
        /// The kernel's list of dma-bufs.
        #[arg(
            long,
            value_name = "FILE",
            default_value = "/sys/kernel/debug/dma_buf/bufinfo"
        )]
        bufinfo: PathBuf,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Self-test: allocate a buffer, fill it, prefetch it to a provider, show where its pages are,
    /// check the data.
    Prefetch {
        /// Size of the buffer (e.g. 4096, 64K, 4M).
        #[arg(long, value_name = "SIZE", default_value = "4M", value_parser = output::parse_size)]
        size: u64,
        /// Where to move it: a managed provider's id, or 'system'.
        #[arg(long, value_name = "ID|system", value_parser = parse_location)]
        to: Location,
        /// Once placed, print 'holding <addr> <len> pid <pid>' and keep the buffer until killed (or
        /// --hold-secs), for 'p2pmmctl query --pid'; the data check follows the hold.
        #[arg(long)]
        hold: bool,
        /// The longest --hold lasts.
        #[arg(long, value_name = "SECS", default_value_t = 60, requires = "hold")]
        hold_secs: u64,
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Show where each page is (P2PMM_IOC_QUERY): of another process's range with --pid PID --addr
    /// A --len L (needs CAP_SYS_PTRACE or tracing PID), else a self-test that allocates a buffer
    /// and places part of it first.
    Query {
        /// Size of the buffer (self-test).
        #[arg(long, value_name = "SIZE", default_value = "4M", value_parser = output::parse_size,
              conflicts_with = "addr")]
        size: u64,
        /// Write only the first SIZE bytes (the rest stays unpopulated; self-test).
        #[arg(
            long,
            value_name = "SIZE",
            value_parser = output::parse_size,
            conflicts_with = "addr",
        )]
        fill: Option<u64>,
        /// Prefetch to this managed provider (or 'system') before querying (self-test).
        #[arg(
            long,
            value_name = "ID|system",
            value_parser = parse_location,
            conflicts_with = "addr",
        )]
        prefetch_to: Option<Location>,
        /// Prefetch only the first SIZE bytes (self-test).
        #[arg(
            long,
            value_name = "SIZE",
            requires = "prefetch_to",
            value_parser = output::parse_size,
        )]
        prefetch_size: Option<u64>,
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Move a file's bytes by DMA into or out of a provider's memory, and say how they went.
    ///
    /// A static provider's memory is mapped from /dev/p2pmm and moved by O_DIRECT pread/pwrite: by
    /// P2P DMA into or out of its BAR, or not at all. A managed provider's memory is p2pmmctl's
    /// own, prefetched there, and moved by P2PMM_IOC_BLKIO (the file must be a block device): its
    /// pages stay on the provider, reached by P2P DMA where the route is direct, else bounced
    /// through system memory.
    Transfer {
        #[command(flatten)]
        request: transfer::Request,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Self-test: allocate a buffer, give it advice, optionally prefetch it and put the provider
    /// under pressure.
    #[command(group(ArgGroup::new("advice").required(true).multiple(true)))]
    Advise {
        /// Size of the buffer.
        #[arg(long, value_name = "SIZE", default_value = "4M", value_parser = output::parse_size)]
        size: u64,
        /// P2PMM_ADV_PREFERRED_LOCATION: a managed provider or 'system'; evicted from it last.
        #[arg(long, value_name = "ID|system", group = "advice", value_parser = parse_location)]
        preferred_location: Option<Location>,
        /// P2PMM_ADV_ACCESSED_BY: the provider whose device accesses the buffer.
        #[arg(long, value_name = "ID", group = "advice")]
        accessed_by: Vec<u32>,
        /// P2PMM_ADV_READ_MOSTLY (refused by p2pmm with EOPNOTSUPP: it does not duplicate pages).
        #[arg(long, group = "advice")]
        read_mostly: bool,
        /// P2PMM_ADV_PIN: never evict the buffer's pages from a provider to make room.
        #[arg(long, group = "advice")]
        pin: bool,
        /// Then prefetch the buffer to this managed provider (or 'system').
        #[arg(long, value_name = "ID|system", value_parser = parse_location)]
        prefetch_to: Option<Location>,
        /// Then stream SIZE of other memory through that provider, and show which advised pages
        /// stayed.
        #[arg(
            long,
            value_name = "SIZE",
            requires = "prefetch_to",
            value_parser = output::parse_size,
        )]
        pressure: Option<u64>,
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        json: JsonArg,
    },
}

#[derive(Debug, Args)]
struct JsonArg {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// What a person would name as the memory to act on: another process's only for `query`
/// (P2PMM_IOC_QUERY takes a pid; MIGRATE and ADVISE act on the caller's own address space).
#[derive(Debug, Args)]
struct TargetArgs {
    /// The process whose memory to look at: a pid (query only; needs CAP_SYS_PTRACE or tracing
    /// it), or 'self' for the self-test. prefetch and advise act on p2pmmctl's own memory only.
    #[arg(long, value_name = "PID|self", value_parser = parse_pid)]
    pid: Option<PidArg>,
    /// Start of the range in that process, page aligned (query --pid PID; hex with 0x, or decimal).
    #[arg(long, value_name = "ADDR", requires = "pid", value_parser = parse_addr)]
    addr: Option<u64>,
    /// Length of the range, whole pages (query --pid PID; e.g. 1048576, 1M, 0x100000).
    #[arg(long, value_name = "LEN", requires = "pid", value_parser = parse_len)]
    len: Option<u64>,
}

impl TargetArgs {
    fn resolve(&self, cmd: &str) -> Result<Target, Failure> {
        placement::resolve_target(
            cmd,
            self.pid,
            self.addr,
            self.len,
            std::process::id(),
            p2pmm_uapi::page_size() as u64,
        )
    }
}

fn print_json(out: &mut impl Write, v: &impl serde::Serialize) -> Result<(), Failure> {
    writeln!(out, "{}", output::to_json(v, true))?;
    Ok(())
}

/// `p2pmmctl version --json`.
#[derive(serde::Serialize)]
struct VersionJson {
    version: u32,
    tool_version: u32,
    features: Vec<String>,
    features_raw: u64,
    providers: Option<usize>,
}

fn outcome(out: &mut impl Write, o: placement::Outcome, json: bool) -> Result<(), Failure> {
    if json {
        writeln!(out, "{}", o.json)?;
    } else {
        write!(out, "{}", o.text)?;
    }
    out.flush()?;
    match o.failed {
        Some(f) => Err(Failure::new(f)),
        None => Ok(()),
    }
}

fn run(cli: Cli, out: &mut impl Write) -> Result<(), Failure> {
    // Refuse what cannot work before touching the device, so the answer does not depend on p2pmm
    // being loaded.
    let target = match &cli.cmd {
        Cmd::Prefetch { target, .. } => target.resolve("prefetch")?,
        Cmd::Query { target, .. } => target.resolve("query")?,
        Cmd::Advise { target, .. } => target.resolve("advise")?,
        _ => Target::Own,
    };
    if let Cmd::Transfer { request, .. } = &cli.cmd {
        transfer::check_request(request, p2pmm_uapi::page_size() as u64)?;
    }
    let dev = Device::open(&cli.device)?;
    if let (Cmd::Query { json, .. }, Target::Process { pid, addr, len }) = (&cli.cmd, target) {
        // Another process's range: no self-test.
        return outcome(
            out,
            placement::query_process(&dev, pid, addr, len)?,
            json.json,
        );
    }
    match cli.cmd {
        Cmd::Version(j) => {
            let v = dev.version()?;
            let providers = dev.providers();
            if j.json {
                let n = providers.as_ref().map(|p| p.len()).ok();
                print_json(
                    out,
                    &VersionJson {
                        version: v.version,
                        tool_version: raw::P2PMM_UAPI_VERSION,
                        features: v.feature_names(),
                        features_raw: v.features,
                        providers: n,
                    },
                )?;
            } else {
                writeln!(
                    out,
                    "p2pmm uAPI version {} (p2pmmctl speaks version {})",
                    v.version,
                    raw::P2PMM_UAPI_VERSION
                )?;
                writeln!(
                    out,
                    "features: {} ({:#x})",
                    v.feature_names().join(", "),
                    v.features
                )?;
                match providers {
                    Ok(p) => writeln!(out, "providers: {}", providers::summary(&p))?,
                    Err(e) => writeln!(out, "providers: {e}")?,
                }
            }
        }
        Cmd::Providers(j) => {
            let p = dev.providers()?;
            if j.json {
                print_json(out, &providers::providers_json(&p))?;
            } else {
                write!(out, "{}", providers::render_providers(&p))?;
            }
        }
        Cmd::Topo {
            all_pci,
            sysfs,
            json,
        } => {
            let providers = dev.providers()?;
            let mut clients: Vec<sysfs::PciDevice> = Vec::new();
            for p in &providers {
                if !clients.iter().any(|c| c.device == p.device) {
                    clients.push(sysfs::pci_device(&sysfs, &p.device));
                }
            }
            clients.sort_by(|a, b| a.device.cmp(&b.device));
            if all_pci {
                for d in sysfs::pci_devices(&sysfs) {
                    if !clients.iter().any(|c| c.device == d.device) {
                        clients.push(d);
                    }
                }
            }
            let t = topo::Topo::build(providers, clients, |id, c| dev.route(id, c));
            if json.json {
                print_json(out, &topo::json(&t))?;
            } else {
                write!(out, "{}", topo::render(&t))?;
            }
        }
        Cmd::Cgroups {
            all,
            cgroup_root,
            json,
        } => {
            if !cgroup_root.join("dmem.capacity").exists() {
                return Err(Failure::new(format!(
                    "{}: no dmem cgroup controller there (mount cgroup2; the kernel needs \
                     CONFIG_CGROUP_DMEM)",
                    cgroup_root.display()
                )));
            }
            let providers = dev.providers()?;
            let usage = cgroups::scan(&cgroup_root, &providers, all)
                .map_err(|e| Failure::new(format!("{}: {e}", cgroup_root.display())))?;
            if json.json {
                print_json(out, &cgroups::CgroupsJson { cgroups: &usage })?;
            } else {
                write!(out, "{}", cgroups::render(&usage))?;
            }
        }
        Cmd::Dmabufs { bufinfo, json } => {
            let text = std::fs::read_to_string(&bufinfo).map_err(|e| {
                Failure::new(format!(
                    "{}: {e} (the kernel lists dma-bufs in debugfs: mount it at \
                     /sys/kernel/debug, as root)",
                    bufinfo.display()
                ))
            })?;
            let bufs = dmabufs::parse_bufinfo(&text);
            if json.json {
                print_json(out, &dmabufs::DmabufsJson { dmabufs: &bufs })?;
            } else {
                write!(out, "{}", dmabufs::render(&bufs))?;
            }
        }
        Cmd::Stats { watch, count, json } => {
            let start = Instant::now();
            let mut previous: Option<Vec<p2pmm_uapi::Provider>> = None;
            let mut sample = 1u64;
            loop {
                let p = dev.providers()?;
                let elapsed = start.elapsed();
                if json.json {
                    let v = providers::stats_json(&p, sample, elapsed.as_millis());
                    // One JSON document per line while watching, so each sample can be read as it
                    // comes.
                    if watch.is_some() {
                        writeln!(out, "{}", output::to_json(&v, false))?;
                    } else {
                        print_json(out, &v)?;
                    }
                } else {
                    if watch.is_some() {
                        writeln!(
                            out,
                            "sample {sample} at +{}.{:03}s",
                            elapsed.as_secs(),
                            elapsed.subsec_millis()
                        )?;
                    }
                    write!(out, "{}", providers::render_stats(&p, previous.as_deref()))?;
                }
                out.flush()?;
                let Some(every) = watch else { break };
                if count.is_some_and(|n| sample >= n) {
                    break;
                }
                if !json.json {
                    writeln!(out)?;
                }
                previous = Some(p);
                sample += 1;
                std::thread::sleep(every);
            }
        }
        Cmd::Prefetch {
            size,
            to,
            hold,
            hold_secs,
            json,
            ..
        } => {
            let o = placement::prefetch(&dev, size, to, |addr, len| {
                if hold {
                    let line = placement::holding_line(addr, len, std::process::id());
                    writeln!(out, "{line}")?;
                    out.flush()?;
                    std::thread::sleep(Duration::from_secs(hold_secs));
                }
                Ok(())
            })?;
            outcome(out, o, json.json)?
        }
        Cmd::Transfer { request, json } => {
            outcome(out, transfer::transfer(&dev, &request)?, json.json)?
        }
        Cmd::Query {
            size,
            fill,
            prefetch_to,
            prefetch_size,
            json,
            ..
        } => outcome(
            out,
            placement::query(&dev, size, fill, prefetch_to, prefetch_size)?,
            json.json,
        )?,
        Cmd::Advise {
            size,
            preferred_location,
            accessed_by,
            read_mostly,
            pin,
            prefetch_to,
            pressure,
            json,
            ..
        } => {
            let mut advice = Vec::new();
            if let Some(l) = preferred_location {
                advice.push(Advice::PreferredLocation(l));
            }
            advice.extend(accessed_by.into_iter().map(Advice::AccessedBy));
            if read_mostly {
                advice.push(Advice::ReadMostly);
            }
            if pin {
                advice.push(Advice::Pin);
            }
            let req = placement::AdviseRequest {
                size,
                advice,
                prefetch_to,
                pressure,
            };
            outcome(out, placement::advise(&dev, &req)?, json.json)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    match run(cli, &mut stdout.lock()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // `p2pmmctl ... | head` closes the pipe: not an error of p2pmmctl's.
        Err(f) if f.msg.contains("Broken pipe") => std::process::ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("p2pmmctl: {}", f.msg);
            std::process::ExitCode::from(f.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("p2pmmctl").chain(args.iter().copied()))
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_subcommands() {
        let c = parse(&["providers", "--json"]).unwrap();
        assert!(matches!(c.cmd, Cmd::Providers(JsonArg { json: true })));
        assert_eq!(c.device, PathBuf::from("/dev/p2pmm"));
        let c = parse(&["--device", "/tmp/x", "topo", "--all-pci"]).unwrap();
        assert!(matches!(c.cmd, Cmd::Topo { all_pci: true, .. }));
        assert_eq!(c.device, PathBuf::from("/tmp/x"));
        let c = parse(&["stats", "--watch", "0.5", "--count", "3"]).unwrap();
        assert!(matches!(
            c.cmd,
            Cmd::Stats { watch: Some(d), count: Some(3), .. }
                if d == Duration::from_millis(500)
        ));
        let c = parse(&["prefetch", "--size", "4M", "--to", "3"]).unwrap();
        assert!(matches!(
            c.cmd,
            Cmd::Prefetch {
                size: 0x40_0000,
                to: Location::Provider(3),
                ..
            }
        ));
        let c = parse(&["prefetch", "--to", "system", "--pid", "self"]).unwrap();
        assert!(matches!(
            c.cmd,
            Cmd::Prefetch {
                to: Location::System,
                target: TargetArgs {
                    pid: Some(PidArg::Own),
                    ..
                },
                ..
            }
        ));
        let c = parse(&[
            "advise",
            "--pin",
            "--accessed-by",
            "3",
            "--accessed-by",
            "5",
            "--prefetch-to",
            "3",
            "--pressure",
            "16M",
        ])
        .unwrap();
        assert!(matches!(
            c.cmd,
            Cmd::Advise { pin: true, ref accessed_by, pressure: Some(0x100_0000), .. }
                if accessed_by == &[3, 5]
        ));
        let c = parse(&["query", "--pid", "1", "--addr", "0x1000", "--len", "1M"]).unwrap();
        assert!(matches!(
            c.cmd,
            Cmd::Query {
                target: TargetArgs {
                    pid: Some(PidArg::Pid(1)),
                    addr: Some(0x1000),
                    len: Some(0x10_0000),
                },
                fill: None,
                prefetch_to: None,
                ..
            }
        ));
        let c = parse(&["prefetch", "--size", "1M", "--to", "2", "--hold"]).unwrap();
        assert!(matches!(
            c.cmd,
            Cmd::Prefetch {
                hold: true,
                hold_secs: 60,
                ..
            }
        ));
        let c = parse(&["prefetch", "--to", "2", "--hold", "--hold-secs", "5"]).unwrap();
        assert!(matches!(
            c.cmd,
            Cmd::Prefetch {
                hold: true,
                hold_secs: 5,
                ..
            }
        ));
        let c = parse(&["prefetch", "--to", "2"]).unwrap();
        assert!(matches!(c.cmd, Cmd::Prefetch { hold: false, .. }));
    }

    #[test]
    fn rejects_bad_arguments() {
        use clap::error::ErrorKind;
        let kind = |args: &[&str]| parse(args).unwrap_err().kind();
        assert_eq!(
            kind(&[]),
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        );
        assert_eq!(
            kind(&["stats", "--count", "2"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            kind(&["stats", "--watch", "1", "--count", "0"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["prefetch", "--size", "4M"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            kind(&["prefetch", "--to", "vram"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["prefetch", "--to", "3", "--size", "4X"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["advise", "--size", "4M"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            kind(&["advise", "--pin", "--pressure", "8M"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            kind(&["query", "--addr", "0x1000"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            kind(&["query", "--prefetch-size", "1M"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            kind(&["query", "--pid", "1", "--addr", "here", "--len", "4096"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["query", "--pid", "1", "--addr", "0x1000", "--len", "0"]),
            ErrorKind::ValueValidation
        );
        // The self-test's options say nothing about another process's range.
        for extra in [["--fill", "1M"], ["--size", "1M"], ["--prefetch-to", "2"]] {
            let mut args = vec!["query", "--pid", "1", "--addr", "0x1000", "--len", "4096"];
            args.extend(extra);
            assert_eq!(kind(&args), ErrorKind::ArgumentConflict, "{extra:?}");
        }
        assert_eq!(
            kind(&["prefetch", "--to", "2", "--hold-secs", "5"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(kind(&["frobnicate"]), ErrorKind::InvalidSubcommand);
    }

    #[test]
    fn another_process_is_refused_before_the_device_is_opened() {
        let run_args = |args: &[&str]| {
            let mut all = vec!["--device", "/nonexistent"];
            all.extend(args);
            run(parse(&all).unwrap(), &mut Vec::new()).unwrap_err()
        };
        let f = run_args(&["prefetch", "--to", "3", "--pid", "1"]);
        assert_eq!(f.code, 2);
        assert!(f.msg.starts_with(
            "--pid 1: prefetch acts on the caller's own address space only (P2PMM_IOC_MIGRATE \
             takes no pid)"
        ));
        let f = run_args(&["advise", "--pin", "--pid", "1"]);
        assert_eq!(f.code, 2);
        assert!(f.msg.starts_with(
            "--pid 1: advise acts on the caller's own address space only (P2PMM_IOC_ADVISE \
             takes no pid)"
        ));
        let f = run_args(&["query", "--pid", "1", "--len", "4096"]);
        assert_eq!(f.code, 2);
        assert!(f.msg.contains("needs --addr and --len"), "{}", f.msg);
        let f = run_args(&["query", "--pid", "1", "--addr", "0x1001", "--len", "4096"]);
        assert_eq!(f.code, 2);
        assert!(
            f.msg.starts_with("--addr 0x1001: not page aligned"),
            "{}",
            f.msg
        );
        // A well-formed query of another process gets as far as the device.
        let f = run_args(&["query", "--pid", "1", "--addr", "0x1000", "--len", "4096"]);
        assert_eq!(f.code, 1);
        assert!(f.msg.starts_with("/nonexistent: no such file"), "{}", f.msg);
    }

    #[test]
    fn open_errors_are_one_line() {
        let cli = parse(&["--device", "/nonexistent/p2pmm", "providers"]).unwrap();
        let f = run(cli, &mut Vec::new()).unwrap_err();
        assert_eq!(f.code, 1);
        assert_eq!(
            f.msg,
            "/nonexistent/p2pmm: no such file or directory (is p2pmm.ko loaded?)"
        );
        let f = Failure::from(p2pmm_uapi::Error {
            call: Call::Open("/dev/p2pmm".into()),
            errno: 13,
        });
        assert_eq!(
            f.msg,
            "/dev/p2pmm: permission denied (the uAPI is root-only by default)"
        );
    }
}
