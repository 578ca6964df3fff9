//! Shared fixtures for the integration tests: mapped structs and throwaway databases.
//!
//! The crate is also a check on the generated code: it builds under
//! `#![deny(warnings, missing_docs)]` with public, crate-visible and private mapped structs.
#![deny(warnings, missing_docs)]

pub mod db;
pub mod models;
pub mod namespace;
pub mod sqlite;
