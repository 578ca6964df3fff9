//! What the macro knows about the mapping once the input is parsed and checked: plain data, so
//! unit tests can build one by hand and `expand` needs no access to the original item.

use proc_macro2::Ident;
use syn::{Generics, Path, Type, Visibility};

/// A struct mapped to a table.
pub(crate) struct Model {
    pub(crate) ident: Ident,
    pub(crate) vis: Visibility,
    pub(crate) generics: Generics,
    /// Path to optimistic-core in the generated code (`::optimistic_core` unless `crate = ..`).
    pub(crate) krate: Path,
    pub(crate) schema: Option<String>,
    pub(crate) table: String,
    /// Persisted columns in field order; skipped fields are not here.
    pub(crate) columns: Vec<Column>,
    /// Fields marked `skip`: reading a row fills them with `Default::default()`.
    pub(crate) skipped: Vec<(Ident, Type)>,
    /// How writes detect a concurrent change.
    pub(crate) lock: Lock,
    /// `write_log = ".."`: the table that records the tokens of committed writes.
    pub(crate) write_log: Option<String>,
}

/// `#[optimistic(lock = "..")]`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Lock {
    /// A version column (the default).
    Version,
    /// The old values of the changed columns.
    Dirty,
    /// The old values of every data column.
    All,
    /// PostgreSQL's `xmin` system column as the version.
    Xmin,
}

impl Lock {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Lock::Version => "version",
            Lock::Dirty => "dirty",
            Lock::All => "all",
            Lock::Xmin => "xmin",
        }
    }
}

/// A persisted field and the column it maps to.
pub(crate) struct Column {
    pub(crate) field: Ident,
    pub(crate) ty: Type,
    /// The column's name in the database.
    pub(crate) name: String,
    pub(crate) role: Role,
    /// Its variant in the generated `<Struct>Iden` enum.
    pub(crate) variant: Ident,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Role {
    Key,
    Version,
    Data,
    /// Written by inserts and `update_excluded`, never by the versioned update.
    Excluded,
    /// The `WriteToken` column: set by inserts and every versioned update, never checked.
    WriteToken,
}

impl Model {
    pub(crate) fn keys(&self) -> impl Iterator<Item = &Column> {
        self.columns
            .iter()
            .filter(|column| column.role == Role::Key)
    }

    pub(crate) fn write_token(&self) -> Option<&Column> {
        self.columns
            .iter()
            .find(|column| column.role == Role::WriteToken)
    }

    pub(crate) fn iden_ident(&self) -> Ident {
        quote::format_ident!("{}Iden", self.ident)
    }

    /// `schema.table` or `table`, for docs.
    pub(crate) fn qualified_table(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.table),
            None => self.table.clone(),
        }
    }
}
