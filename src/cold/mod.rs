//! Cold path: everything the allocator does beyond counting. Runs inside
//! `GlobalAlloc`: never unwinds; on a `Policy::Panic` violation, no lock, no
//! allocation and no system call.

pub(crate) mod act;
pub(crate) mod budget;
pub(crate) mod fork;
pub(crate) mod path;
pub(crate) mod records;
pub(crate) mod registry;
pub(crate) mod settings;
