//! The one error type every kernel returns. The bindings map it to Python exceptions in one
//! place (`bindings::errors`), so a bad shape never becomes a panic across the FFI boundary.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum KernelError {
    /// An argument has the wrong shape or length; maps to `ValueError`.
    Shape(String),
    /// An argument has a wrong value (a non-finite learning rate, an id out of range); `ValueError`.
    Value(String),
}

pub type KResult<T> = Result<T, KernelError>;

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::Shape(m) | KernelError::Value(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for KernelError {}

/// `ensure_len(name, slice.len(), expected)` — the check every kernel does on its buffers.
pub fn ensure_len(name: &str, got: usize, expected: usize) -> KResult<()> {
    if got == expected {
        Ok(())
    } else {
        Err(KernelError::Shape(format!(
            "{name} has {got} elements, expected {expected}"
        )))
    }
}
