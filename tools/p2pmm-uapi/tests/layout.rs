// SPDX-License-Identifier: GPL-2.0

//! The Rust uAPI (`src/raw.rs`) against the C header `include/uapi/linux/p2pmm.h`: a C program
//! compiled with the host's C compiler (`$CC`, default `gcc`) prints the size of every struct, the
//! offset, size and signedness of every field and the value of every constant and ioctl number;
//! each must equal the Rust side. The fields listed for a struct must tile it with no gap (so none
//! is forgotten), and every `#define P2PMM_*` of the header must be compared.
//!
//! `src/raw.rs` takes its numbers from the portable core (`p2pmm-core`, also compiled into
//! p2pmm.ko), so this checks the kernel's Rust constants and ioctl encoding against the header from
//! userspace's side too; and the plan and reason names, which come from the core, must be the
//! header's.

use p2pmm_uapi::raw::{self, *};
use p2pmm_uapi::{Plan, Reason};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::mem::{offset_of, size_of};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

fn field_size<T, F>(_: fn(&T) -> &F) -> usize {
    size_of::<F>()
}

/// Whether a field's type is a signed integer; compared with C's `_Generic` answer (an array is
/// not).
trait Signedness {
    const SIGNED: bool;
}
impl Signedness for u32 {
    const SIGNED: bool = false;
}
impl Signedness for u64 {
    const SIGNED: bool = false;
}
impl Signedness for i32 {
    const SIGNED: bool = true;
}
impl<const N: usize> Signedness for [u8; N] {
    const SIGNED: bool = false;
}

fn field_signed<T, F: Signedness>(_: fn(&T) -> &F) -> bool {
    F::SIGNED
}

/// One struct: its C name, Rust size, and (C field, Rust offset, Rust size, Rust signedness) in
/// declaration order.
struct StructLayout {
    c_name: &'static str,
    size: usize,
    fields: Vec<(&'static str, usize, usize, bool)>,
}

macro_rules! layout {
    ($rust:ty, $c:literal { $($field:ident => $cfield:literal),* $(,)? }) => {
        StructLayout {
            c_name: $c,
            size: size_of::<$rust>(),
            fields: vec![$((
                $cfield,
                offset_of!($rust, $field),
                field_size(|s: &$rust| &s.$field),
                field_signed(|s: &$rust| &s.$field),
            )),*],
        }
    };
}

fn structs() -> Vec<StructLayout> {
    vec![
        layout!(raw::Version, "p2pmm_version" {
            size => "size", flags => "flags", version => "version", reserved => "__reserved",
            features => "features",
        }),
        layout!(raw::ProviderInfo, "p2pmm_provider_info" {
            id => "id", kind => "kind", flags => "flags", reserved => "__reserved",
            device => "device",
            capacity => "capacity", used => "used", evictions => "evictions",
            migrated_in => "migrated_in",
            migrated_out => "migrated_out", invalidations => "invalidations",
        }),
        layout!(raw::Providers, "p2pmm_providers" {
            size => "size", flags => "flags", count => "count", entry_size => "entry_size",
            entries => "entries",
        }),
        layout!(raw::Route, "p2pmm_route" {
            size => "size", flags => "flags", provider => "provider", reserved => "__reserved",
            client => "client",
            verdict => "verdict", plan => "plan", reason => "reason", distance => "distance",
            host_bridge => "host_bridge", reserved2 => "__reserved2",
        }),
        layout!(raw::Migrate, "p2pmm_migrate" {
            size => "size", flags => "flags", addr => "addr", length => "length",
            target => "target",
            reserved => "__reserved", migrated => "migrated", evicted => "evicted",
        }),
        layout!(raw::Query, "p2pmm_query" {
            size => "size", flags => "flags", addr => "addr", length => "length",
            locations => "locations",
            pid => "pid", reserved => "__reserved",
        }),
        layout!(raw::Advise, "p2pmm_advise" {
            size => "size", flags => "flags", addr => "addr", length => "length",
            advice => "advice",
            location => "location",
        }),
        layout!(raw::Blkio, "p2pmm_blkio" {
            size => "size", flags => "flags", fd => "fd", reserved => "__reserved",
            addr => "addr", length => "length", offset => "offset", bytes_p2p => "bytes_p2p",
            bytes_system => "bytes_system", bytes_bounce => "bytes_bounce", retries => "retries",
        }),
        layout!(raw::Dmabuf, "p2pmm_dmabuf" {
            size => "size", flags => "flags", addr => "addr", length => "length", fd => "fd",
            provider => "provider",
        }),
    ]
}

/// Every object-like `#define P2PMM_*` of the header, with the Rust value.
fn constants() -> Vec<(&'static str, u64)> {
    macro_rules! c {
        ($($name:ident),* $(,)?) => { vec![$((stringify!($name), u64::from($name))),*] };
    }
    c![
        P2PMM_UAPI_VERSION,
        P2PMM_FEATURE_VERSION,
        P2PMM_FEATURE_PROVIDERS,
        P2PMM_FEATURE_MIGRATE,
        P2PMM_FEATURE_ADVISE,
        P2PMM_FEATURE_STATIC_MMAP,
        P2PMM_FEATURE_BLKIO,
        P2PMM_FEATURE_DMABUF,
        P2PMM_FEATURE_DMABUF_MANAGED,
        P2PMM_IOC_MAGIC,
        P2PMM_VERSION_SIZE_VER0,
        P2PMM_IOC_VERSION,
        P2PMM_PROVIDER_STATIC,
        P2PMM_PROVIDER_MANAGED,
        P2PMM_PROVIDER_F_ADOPTED,
        P2PMM_PROVIDER_INFO_SIZE_VER0,
        P2PMM_PROVIDERS_SIZE_VER0,
        P2PMM_ROUTE_BUS_ADDR,
        P2PMM_ROUTE_HOST_BRIDGE,
        P2PMM_ROUTE_NOT_SUPPORTED,
        P2PMM_PLAN_DIRECT,
        P2PMM_PLAN_BOUNCE,
        P2PMM_PLAN_REFUSED,
        P2PMM_REASON_NONE,
        P2PMM_REASON_HOST_BRIDGE_NOT_ALLOWED,
        P2PMM_REASON_ACS_REDIRECT,
        P2PMM_REASON_NOT_PCI,
        P2PMM_REASON_HOST_BRIDGE_DISALLOWED,
        P2PMM_REASON_TOO_FAR,
        P2PMM_ROUTE_SIZE_VER0,
        P2PMM_IOC_PROVIDERS,
        P2PMM_IOC_ROUTE,
        P2PMM_LOCATION_SYSTEM,
        P2PMM_LOCATION_NONE,
        P2PMM_MIGRATE_SIZE_VER0,
        P2PMM_QUERY_SIZE_VER0,
        P2PMM_QUERY_SIZE_VER1,
        P2PMM_ADV_PREFERRED_LOCATION,
        P2PMM_ADV_UNSET_PREFERRED_LOCATION,
        P2PMM_ADV_ACCESSED_BY,
        P2PMM_ADV_UNSET_ACCESSED_BY,
        P2PMM_ADV_READ_MOSTLY,
        P2PMM_ADV_UNSET_READ_MOSTLY,
        P2PMM_ADV_PIN,
        P2PMM_ADV_UNPIN,
        P2PMM_ADVISE_SIZE_VER0,
        P2PMM_IOC_MIGRATE,
        P2PMM_IOC_QUERY,
        P2PMM_IOC_ADVISE,
        P2PMM_BLKIO_WRITE,
        P2PMM_BLKIO_SIZE_VER0,
        P2PMM_IOC_BLKIO,
        P2PMM_DMABUF_CLOEXEC,
        P2PMM_DMABUF_MANAGED,
        P2PMM_DMABUF_SIZE_VER0,
        P2PMM_IOC_DMABUF,
    ]
}

/// Function-like macros, evaluated at sample arguments: (C expression, Rust value).
fn expressions() -> Vec<(String, u64)> {
    [0u32, 1, 7, 0xffff_ffff]
        .iter()
        .map(|&id| (format!("P2PMM_MMAP_OFFSET({id}U)"), p2pmm_mmap_offset(id)))
        .collect()
}

fn include_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../include/uapi")
}

/// The C program printing `key value` lines, and the same keys with the Rust values.
fn program() -> (String, BTreeMap<String, u64>) {
    let mut c = String::from(
        "#include <stddef.h>\n#include <stdio.h>\n#include <linux/p2pmm.h>\n\
         #define P(k, v) printf(\"%s %llu\\n\", k, (unsigned long long)(v))\n\
         #define SIGNED(x) _Generic((x), signed char: 1, short: 1, int: 1, long: 1, long long: 1, \
         default: 0)\n\
         int main(void)\n{\n",
    );
    let mut rust = BTreeMap::new();
    for s in structs() {
        let key = format!("sizeof {}", s.c_name);
        writeln!(c, "\tP(\"{key}\", sizeof(struct {}));", s.c_name).unwrap();
        rust.insert(key, s.size as u64);
        for (f, off, size, signed) in &s.fields {
            let key = format!("offsetof {}.{f}", s.c_name);
            writeln!(c, "\tP(\"{key}\", offsetof(struct {}, {f}));", s.c_name).unwrap();
            rust.insert(key, *off as u64);
            let key = format!("sizeof {}.{f}", s.c_name);
            writeln!(
                c,
                "\tP(\"{key}\", sizeof(((struct {} *)0)->{f}));",
                s.c_name
            )
            .unwrap();
            rust.insert(key, *size as u64);
            let key = format!("signed {}.{f}", s.c_name);
            writeln!(
                c,
                "\tP(\"{key}\", SIGNED(((struct {} *)0)->{f}));",
                s.c_name
            )
            .unwrap();
            rust.insert(key, u64::from(*signed));
        }
    }
    for (name, v) in constants() {
        writeln!(c, "\tP(\"{name}\", {name});").unwrap();
        rust.insert(name.to_string(), v);
    }
    for (expr, v) in expressions() {
        writeln!(c, "\tP(\"{expr}\", {expr});").unwrap();
        rust.insert(expr, v);
    }
    c.push_str("\treturn 0;\n}\n");
    (c, rust)
}

/// The C program's output, computed once for all tests.
fn c_values() -> &'static BTreeMap<String, u64> {
    static VALUES: OnceLock<BTreeMap<String, u64>> = OnceLock::new();
    VALUES.get_or_init(|| run_c(&program().0))
}

fn run_c(source: &str) -> BTreeMap<String, u64> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("p2pmm-uapi-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (src, exe) = (dir.join("layout.c"), dir.join("layout"));
    std::fs::write(&src, source).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "gcc".into());
    let out = Command::new(&cc)
        .args(["-std=gnu11", "-Wall", "-Werror", "-I"])
        .arg(include_dir())
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}` (set CC): {e}"));
    assert!(
        out.status.success(),
        "compiling the layout program against the header failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&exe).output().unwrap();
    assert!(out.status.success());
    std::fs::remove_dir_all(&dir).ok();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

#[test]
fn rust_layout_matches_c_header() {
    let (_, rust) = program();
    let c = c_values();
    let mut diffs = Vec::new();
    for (k, rv) in &rust {
        match c.get(k) {
            Some(cv) if cv == rv => {}
            Some(cv) => diffs.push(format!("{k}: C {cv:#x}, Rust {rv:#x}")),
            None => diffs.push(format!("{k}: not printed by the C program")),
        }
    }
    assert!(
        diffs.is_empty(),
        "Rust uAPI differs from include/uapi/linux/p2pmm.h:\n{}",
        diffs.join("\n")
    );
    assert_eq!(c.len(), rust.len());
}

/// The fields listed for each struct cover it byte for byte (in C, so a field missing from the list
/// shows up as a gap), and the Rust struct has the same size.
#[test]
fn listed_fields_tile_each_struct() {
    let c = c_values();
    for s in structs() {
        let mut end = 0;
        for (f, _, _, _) in &s.fields {
            let off = c[&format!("offsetof {}.{f}", s.c_name)];
            assert_eq!(
                off, end,
                "struct {}: a field of the header before {f} is not listed (gap)",
                s.c_name
            );
            end = off + c[&format!("sizeof {}.{f}", s.c_name)];
        }
        assert_eq!(
            end,
            c[&format!("sizeof {}", s.c_name)],
            "struct {}: fields missing at its end",
            s.c_name
        );
    }
}

/// Every object-like `#define P2PMM_*` of the header is compared, and every struct of it is listed.
#[test]
fn every_header_definition_is_checked() {
    let header = std::fs::read_to_string(include_dir().join("linux/p2pmm.h")).unwrap();
    let checked: Vec<&str> = constants().iter().map(|(n, _)| *n).collect();
    let structs: Vec<&str> = structs().iter().map(|s| s.c_name).collect();
    for line in header.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("#define"), Some(name)) if name.starts_with("P2PMM_") => {
                if name.contains('(') {
                    assert!(
                        name.starts_with("P2PMM_MMAP_OFFSET("),
                        "function-like macro {name} not checked"
                    );
                } else {
                    assert!(
                        checked.contains(&name),
                        "{name} of the header is not in src/raw.rs's checked list"
                    );
                }
            }
            (Some("struct"), Some(name)) if line.trim_end().ends_with('{') => {
                assert!(
                    structs.contains(&name),
                    "struct {name} of the header is not checked"
                );
            }
            _ => {}
        }
    }
}

/// The names shown for plans and reasons (from the core's `plan_name` and `reason_name`) are the
/// header's: for every `P2PMM_PLAN_*` and `P2PMM_REASON_*` it defines, the name of its value is the
/// macro's suffix.
#[test]
fn plan_and_reason_names_are_the_headers() {
    let c = c_values();
    let mut seen = 0;
    for (name, &v) in c {
        let Ok(v) = u32::try_from(v) else { continue };
        let shown = if name.starts_with("P2PMM_PLAN_") {
            format!("P2PMM_PLAN_{}", Plan::from_raw(v).name().to_uppercase())
        } else if name.starts_with("P2PMM_REASON_") {
            format!("P2PMM_REASON_{}", Reason::from_raw(v).name())
        } else {
            continue;
        };
        assert_eq!(&shown, name, "the name of {name}'s value {v}");
        seen += 1;
    }
    assert_eq!(seen, 3 + 6);
}
