// SPDX-License-Identifier: GPL-2.0

//! Lock names and classes for locks that bindings initialise in code another crate may compile.
//!
//! `new_mutex!("name")` takes a lockdep class key from a static of the function it is written in
//! and its name from a string literal there. When that function is generic, or an initialiser
//! closure a driver's `KBox::pin_init` instantiates, the driver crate compiles the code: the key
//! stays this crate's one static, but the literal is the driver's own copy, and lockdep warns when
//! one class has two names (`look_up_lock_class`; the mirror driver met it on the first lock of a
//! notifier and of a device-memory chunk). [`lock_class!`] names the lock and its class from one
//! function of this crate that is never inlined, so every user gets the same pair.

/// The `(name, key)` of a lock initialised in binding code another crate may compile: pass them
/// to `Mutex::new` or `SpinLock::new` in place of `new_mutex!`/`new_spinlock!`.
macro_rules! lock_class {
    ($name:literal) => {{
        // A nested function is not generic even inside generic code: one item, of this crate.
        #[inline(never)]
        fn class() -> (
            &'static ::kernel::str::CStr,
            ::core::pin::Pin<&'static ::kernel::sync::LockClassKey>,
        ) {
            (::kernel::c_str!($name), ::kernel::static_lock_class!())
        }
        class()
    }};
}
pub(crate) use lock_class;
