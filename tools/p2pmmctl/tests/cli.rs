// SPDX-License-Identifier: GPL-2.0

//! The p2pmmctl binary as a person runs it, where no p2pmm is loaded (the host): errors are one
//! line on stderr with the right exit code, and help and usage errors come from clap. The guest
//! test (tests/guest/p2pmmctl_test.sh) runs it against the real /dev/p2pmm.

use std::process::{Command, Output};

fn p2pmmctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_p2pmmctl"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn missing_device_is_one_line_and_exit_1() {
    let o = p2pmmctl(&["--device", "/nonexistent/p2pmm", "providers"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert_eq!(
        stderr(&o),
        "p2pmmctl: /nonexistent/p2pmm: no such file or directory (is p2pmm.ko loaded?)\n"
    );
}

#[test]
fn a_file_that_is_not_p2pmm() {
    // /dev/null opens, but answers no p2pmm ioctl.
    let o = p2pmmctl(&["--device", "/dev/null", "version"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.starts_with("p2pmmctl: P2PMM_IOC_VERSION: inappropriate ioctl for device (ENOTTY)"),
        "{e}"
    );
}

#[test]
fn another_process_is_exit_2_for_prefetch_and_advise() {
    for (cmd, ioctl) in [
        ("prefetch --to 3", "P2PMM_IOC_MIGRATE"),
        ("advise --pin", "P2PMM_IOC_ADVISE"),
    ] {
        let mut args: Vec<&str> = cmd.split(' ').collect();
        args.extend(["--pid", "1", "--device", "/nonexistent"]);
        let o = p2pmmctl(&args);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        let e = stderr(&o);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(
            e.starts_with(&format!(
                "p2pmmctl: --pid 1: {} acts on the caller's own address space only ({ioctl} takes \
                 no pid)",
                cmd.split(' ').next().unwrap()
            )),
            "{e}"
        );
    }
}

#[test]
fn query_of_another_process_needs_a_range() {
    let o = p2pmmctl(&["query", "--pid", "1", "--device", "/nonexistent"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.starts_with("p2pmmctl: --pid 1: a query of another process needs --addr and --len"),
        "{e}"
    );
    // With a range, it is the device's turn (here: none).
    let o = p2pmmctl(&[
        "query",
        "--pid",
        "1",
        "--addr",
        "0x1000",
        "--len",
        "4096",
        "--device",
        "/nonexistent",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "p2pmmctl: /nonexistent: no such file or directory (is p2pmm.ko loaded?)\n"
    );
}

#[test]
fn usage_errors_are_exit_2() {
    let o = p2pmmctl(&["prefetch", "--to", "vram"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("'vram' is not a provider id or 'system'"));
    let o = p2pmmctl(&["stats", "--count", "3"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn help_lists_every_subcommand() {
    let o = p2pmmctl(&["--help"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for cmd in [
        "version",
        "providers",
        "topo",
        "stats",
        "prefetch",
        "query",
        "advise",
        "transfer",
    ] {
        assert!(
            text.contains(&format!("  {cmd} ")),
            "{cmd} missing from\n{text}"
        );
    }
}

#[test]
fn transfer_sizes_that_o_direct_refuses_are_exit_2_before_the_device() {
    for (args, line) in [
        (
            "--size 1000",
            "p2pmmctl: transfer: --size 1000 is not a multiple of the page size (4096): O_DIRECT \
             needs aligned I/O\n",
        ),
        (
            "--offset 512",
            "p2pmmctl: transfer: --offset 512 is not a multiple of the page size (4096): O_DIRECT \
             needs aligned I/O\n",
        ),
        (
            "--chunk 6K",
            "p2pmmctl: transfer: --chunk 6144 is not a multiple of the page size (4096): \
         O_DIRECT needs aligned I/O\n",
        ),
    ] {
        let mut argv = vec![
            "--device",
            "/nonexistent",
            "transfer",
            "--file",
            "/dev/null",
            "--provider",
            "1",
        ];
        argv.extend(args.split(' '));
        let o = p2pmmctl(&argv);
        assert_eq!(o.status.code(), Some(2), "{args}");
        assert_eq!(stderr(&o), line, "{args}");
    }
}
