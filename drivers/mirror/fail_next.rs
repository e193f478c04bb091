// SPDX-License-Identifier: GPL-2.0

//! The mirror device's `HMM_DMIRROR_FLAG_FAIL_ALLOC`: a test hook of the upstream uAPI that makes
//! the next large allocation of device or system memory fail, once, so the small-page fallbacks
//! run. It lives in the test driver; the device-memory binding only asks it, as any driver's
//! [`FaultPolicy`].

use kernel::{
    prelude::*,
    sync::{
        atomic::{ordering, Atomic},
        Arc,
    },
};
use p2pmm::devmem::FaultPolicy;

/// Armed by the flag, disarmed by the one allocation it fails (armed twice, it still fails one).
pub struct FailNext(Atomic<bool>);

impl FailNext {
    /// A disarmed hook.
    pub fn new() -> Result<Arc<Self>> {
        Ok(Arc::new(Self(Atomic::new(false)), GFP_KERNEL)?)
    }

    /// Makes the next large allocation fail.
    pub fn arm(&self) {
        self.0.store(true, ordering::Release);
    }

    /// Whether this allocation must fail (disarms the hook).
    pub fn take(&self) -> bool {
        self.0.xchg(false, ordering::Full)
    }
}

impl FaultPolicy for FailNext {
    fn large_system_folio(&self) -> bool {
        !self.take()
    }
}
