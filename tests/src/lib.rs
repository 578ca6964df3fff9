//! Shared fixtures for the integration tests: mapped structs and throwaway databases.
//!
//! The crate is also a check on the generated code: it builds under
//! `#![deny(warnings, missing_docs)]` with public, crate-visible and private mapped structs.
#![deny(warnings, missing_docs)]
// The README and MIGRATING snippets are what users copy: they must not warn either.
#![doc(test(attr(deny(warnings))))]

pub mod contention;
pub mod db;
pub mod ledger;
pub mod models;
pub mod namespace;
pub mod proxy;
pub mod sqlite;

/// The README's Rust snippets, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct Readme;

/// The structs of `docs/MIGRATING.md`, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/MIGRATING.md")]
pub struct MigrationGuide;
