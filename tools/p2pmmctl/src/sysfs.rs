// SPDX-License-Identifier: GPL-2.0

//! PCI devices as sysfs shows them (`<root>/bus/pci/devices`), for naming the clients of the route
//! matrix.

use serde::Serialize;
use std::path::Path;

/// One PCI device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct PciDevice {
    /// Its PCI name ("0000:03:00.0").
    pub(crate) device: String,
    /// The bound driver, if any.
    pub(crate) driver: Option<String>,
    /// What it is, from its class code ("NVMe", "PCI bridge").
    pub(crate) class: String,
}

impl PciDevice {
    /// A short label: the driver, or else the class.
    pub(crate) fn label(&self) -> &str {
        self.driver.as_deref().unwrap_or(&self.class)
    }
}

fn read_trimmed(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

/// A name for a PCI class code (`0xCCSSPP`).
pub(crate) fn class_name(class: u32) -> String {
    match class >> 8 {
        0x0108 => "NVMe".into(),
        0x0106 => "SATA".into(),
        0x0100..=0x0105 | 0x0107 | 0x0109..=0x01ff => "storage".into(),
        0x0200..=0x02ff => "network".into(),
        0x0300..=0x03ff => "display".into(),
        0x0500 => "RAM".into(),
        0x0501..=0x05ff => "memory".into(),
        0x0600 => "host bridge".into(),
        0x0601 => "ISA bridge".into(),
        0x0604 => "PCI bridge".into(),
        0x0602 | 0x0603 | 0x0605..=0x06ff => "bridge".into(),
        0x0c05 => "SMBus".into(),
        0x1200..=0x12ff => "accelerator".into(),
        c => format!("class {c:04x}"),
    }
}

/// Every PCI device under `<sysfs>/bus/pci/devices`, sorted by name; empty if there is none (or no
/// sysfs).
pub(crate) fn pci_devices(sysfs: &Path) -> Vec<PciDevice> {
    let dir = sysfs.join("bus/pci/devices");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<PciDevice> = entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let path = e.path();
            let class = read_trimmed(&path.join("class"))
                .and_then(|c| u32::from_str_radix(c.trim_start_matches("0x"), 16).ok())
                .map_or_else(|| "?".to_string(), class_name);
            let driver = std::fs::read_link(path.join("driver"))
                .ok()
                .and_then(|l| l.file_name().map(|n| n.to_string_lossy().into_owned()));
            PciDevice {
                device: e.file_name().to_string_lossy().into_owned(),
                driver,
                class,
            }
        })
        .collect();
    out.sort_by(|a, b| a.device.cmp(&b.device));
    out
}

/// One PCI device by name, with what sysfs knows of it; unknown driver and class if sysfs has not
/// it.
pub(crate) fn pci_device(sysfs: &Path, name: &str) -> PciDevice {
    pci_devices(sysfs)
        .into_iter()
        .find(|d| d.device == name)
        .unwrap_or_else(|| PciDevice {
            device: name.to_string(),
            driver: None,
            class: "?".into(),
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A fake sysfs with the given (name, class, driver) devices, in a fresh directory.
    pub(crate) fn fake_sysfs(tag: &str, devices: &[(&str, &str, Option<&str>)]) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("p2pmmctl-sysfs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (name, class, driver) in devices {
            let d = root.join("bus/pci/devices").join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("class"), format!("{class}\n")).unwrap();
            if let Some(drv) = driver {
                let target = root.join("bus/pci/drivers").join(drv);
                std::fs::create_dir_all(&target).unwrap();
                std::os::unix::fs::symlink(&target, d.join("driver")).unwrap();
            }
        }
        root
    }

    #[test]
    fn lists_devices_with_driver_and_class() {
        let root = fake_sysfs(
            "list",
            &[
                ("0000:03:00.0", "0x010802", Some("nvme")),
                ("0000:00:00.0", "0x060000", None),
                ("0000:04:00.0", "0x050000", Some("p2pmm_vaccel")),
            ],
        );
        let d = pci_devices(&root);
        let names: Vec<&str> = d.iter().map(|d| d.device.as_str()).collect();
        assert_eq!(names, ["0000:00:00.0", "0000:03:00.0", "0000:04:00.0"]);
        assert_eq!(d[0].label(), "host bridge");
        assert_eq!(d[1].label(), "nvme");
        assert_eq!(d[2].class, "RAM");
        assert_eq!(pci_device(&root, "0000:09:00.0").label(), "?");
        assert!(pci_devices(&root.join("nothing")).is_empty());
        std::fs::remove_dir_all(root).unwrap();
    }
}
