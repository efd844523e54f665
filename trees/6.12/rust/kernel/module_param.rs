// SPDX-License-Identifier: GPL-2.0

//! Read-only module parameters.
//!
//! C header: [`include/linux/moduleparam.h`](srctree/include/linux/moduleparam.h).
//!
//! [`module_param!`](crate::module_param!) declares a static holding a parameter's value and
//! registers it in the `__param` section, as C's `module_param()` does. The parameter is set
//! from the `insmod` arguments (or, for built-in code, from `<module>.<name>=` on the kernel
//! command line) before the module's `init` runs, and is shown read-only (`0444`) in
//! `/sys/module/<module>/parameters/`. Because nothing writes it after `init` starts, reading it
//! needs no lock; writable parameters, which would need `kernel_param_lock()`, are not supported.

use crate::bindings;
use core::cell::UnsafeCell;

mod private {
    pub trait Sealed {}
}

/// A type that the kernel's standard parameter operations parse and print.
///
/// Sealed: each implementation names the C `kernel_param_ops` whose `set` writes exactly a
/// value of this type.
pub trait ParamType: Copy + private::Sealed + 'static {
    /// The C operations for this type.
    const OPS: *const bindings::kernel_param_ops;
    /// The type as `modinfo` shows it (`parmtype`).
    const NAME: &'static str;
}

impl private::Sealed for u32 {}
impl ParamType for u32 {
    // `param_ops_uint` parses into an `unsigned int`.
    const OPS: *const bindings::kernel_param_ops = &raw const bindings::param_ops_uint;
    const NAME: &'static str = "uint";
}

impl private::Sealed for bool {}
impl ParamType for bool {
    // `param_ops_bool` parses into a C `bool`, which has the layout of Rust's `bool`.
    const OPS: *const bindings::kernel_param_ops = &raw const bindings::param_ops_bool;
    const NAME: &'static str = "bool";
}

/// The value of a read-only module parameter.
///
/// Declared with [`module_param!`](crate::module_param!).
///
/// # Invariants
///
/// The value is only written by the kernel's argument parsing, before the module's `init`
/// runs; the parameter is registered read-only, so it is not written afterwards.
#[repr(transparent)]
pub struct ModuleParam<T: ParamType>(UnsafeCell<T>);

// SAFETY: By the type invariant, the value is not written once code of the module can run, so
// shared references on any thread only read it.
unsafe impl<T: ParamType> Sync for ModuleParam<T> {}

impl<T: ParamType> ModuleParam<T> {
    /// Creates a parameter with its default value.
    #[doc(hidden)]
    pub const fn new(default: T) -> Self {
        Self(UnsafeCell::new(default))
    }

    /// Returns the value of the parameter.
    pub fn get(&self) -> T {
        // SAFETY: By the type invariant, nothing writes the value concurrently.
        unsafe { *self.0.get() }
    }

    #[doc(hidden)]
    pub const fn as_ptr(&self) -> *mut core::ffi::c_void {
        self.0.get().cast()
    }
}

/// An entry of the `__param` section (`struct kernel_param`).
#[doc(hidden)]
#[repr(transparent)]
pub struct KernelParam(bindings::kernel_param);

// SAFETY: The entry is never mutated; the kernel only reads it.
unsafe impl Sync for KernelParam {}

impl KernelParam {
    /// Creates a read-only parameter entry.
    ///
    /// # Safety
    ///
    /// `name` must be a NUL-terminated string and `arg` must point to a value of the type that
    /// `ops` parses, both valid for as long as the module is loaded; `module` must be the
    /// module's `struct module` or null for built-in code.
    pub const unsafe fn new(
        name: *const u8,
        module: *mut bindings::module,
        ops: *const bindings::kernel_param_ops,
        arg: *mut core::ffi::c_void,
    ) -> Self {
        Self(bindings::kernel_param {
            name: name.cast(),
            mod_: module,
            ops,
            perm: 0o444,
            level: -1,
            flags: 0,
            __bindgen_anon_1: bindings::kernel_param__bindgen_ty_1 { arg },
        })
    }
}

/// Length of `prefix` (a module name and a NUL) and `parts` concatenated, with a NUL.
#[doc(hidden)]
pub const fn concat_len(prefix: &[u8], parts: &[&str]) -> usize {
    let mut len = prefix.len();
    let mut i = 0;
    while i < parts.len() {
        len += parts[i].len();
        i += 1;
    }
    len
}

/// Concatenates `prefix` with its NUL replaced by a `.` and `parts`, then a NUL.
///
/// An empty `prefix` gives just `parts`.
#[doc(hidden)]
pub const fn concat<const N: usize>(prefix: &[u8], parts: &[&str]) -> [u8; N] {
    let mut out = [0u8; N];
    let mut n = 0;
    while n < prefix.len() {
        out[n] = if n + 1 == prefix.len() {
            b'.'
        } else {
            prefix[n]
        };
        n += 1;
    }
    let mut i = 0;
    while i < parts.len() {
        let bytes = parts[i].as_bytes();
        let mut j = 0;
        while j < bytes.len() {
            out[n] = bytes[j];
            n += 1;
            j += 1;
        }
        i += 1;
    }
    out
}

/// Declares a read-only module parameter.
///
/// Expands to a `static` of type [`ModuleParam<T>`] holding the value, for `T` one of the
/// [`ParamType`]s (`u32`, `bool`), and registers the parameter under `name` with its
/// description (`modinfo` shows both). Use it in a crate that uses the `module!` macro.
///
/// # Examples
///
/// ```
/// kernel::module_param! {
///     /// Upper bound of a buffer, in pages.
///     static MAX_PAGES: u32 = 4096;
///     name: "max_pages",
///     description: "Upper bound of a buffer, in pages",
/// }
///
/// fn max_pages() -> usize {
///     MAX_PAGES.get() as usize
/// }
///
/// // Nothing on the command line sets `rust_doctests_kernel.max_pages`.
/// assert_eq!(max_pages(), 4096);
/// ```
// `crate` is meant: `__LOG_PREFIX` is defined in the calling crate by its `module!`.
#[allow(clippy::crate_in_macro_def)]
#[macro_export]
macro_rules! module_param {
    (
        $(#[$meta:meta])*
        $vis:vis static $id:ident: $ty:ty = $default:expr;
        name: $name:literal,
        description: $desc:literal $(,)?
    ) => {
        $(#[$meta])*
        $vis static $id: $crate::module_param::ModuleParam<$ty> =
            $crate::module_param::ModuleParam::new($default);

        const _: () = {
            use $crate::module_param::{concat, concat_len, KernelParam, ParamType};

            // Built-in parameters are named `<module>.<name>`.
            const PREFIX: &[u8] = if cfg!(MODULE) { b"" } else { crate::__LOG_PREFIX };
            const NAME_PARTS: &[&str] = &[$name, "\0"];
            static NAME: [u8; concat_len(PREFIX, NAME_PARTS)] = concat(PREFIX, NAME_PARTS);

            extern "C" {
                // Defined by modpost for a loadable module; not referenced by built-in code.
                static __this_module: $crate::types::Opaque<$crate::bindings::module>;
            }

            #[link_section = "__param"]
            #[used(compiler)]
            // SAFETY: `NAME` is NUL-terminated and `$id` has the type that `OPS` parses; both
            // are statics of the module, as is the entry, and `__this_module` is the module's
            // `struct module` (C's `THIS_MODULE`, null when built in).
            static PARAM: KernelParam = unsafe {
                KernelParam::new(
                    NAME.as_ptr(),
                    if cfg!(MODULE) {
                        __this_module.get()
                    } else {
                        core::ptr::null_mut()
                    },
                    <$ty as ParamType>::OPS,
                    $id.as_ptr(),
                )
            };

            const TYPE_PARTS: &[&str] =
                &["parmtype=", $name, ":", <$ty as ParamType>::NAME, "\0"];
            #[cfg(MODULE)]
            #[link_section = ".modinfo"]
            #[used(compiler)]
            static TYPE: [u8; concat_len(b"", TYPE_PARTS)] = concat(b"", TYPE_PARTS);

            const DESC_PARTS: &[&str] = &["parm=", $name, ":", $desc, "\0"];
            #[cfg(MODULE)]
            #[link_section = ".modinfo"]
            #[used(compiler)]
            static DESC: [u8; concat_len(b"", DESC_PARTS)] = concat(b"", DESC_PARTS);
        };
    };
}
