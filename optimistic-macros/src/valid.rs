//! Checks the parsed input, fills in the defaults and produces the [`Model`]. Every problem is
//! reported at the token to blame, and all of them in one build.

use std::collections::HashMap;

use proc_macro2::{Ident, Span};
use quote::format_ident;
use syn::ext::IdentExt;
use syn::{Type, parse_quote};

use crate::ast::{Field, Input};
use crate::attr::NAME;
use crate::ctxt::Ctxt;
use crate::model::{Column, Lock, Model, Role};

pub(crate) fn validate(cx: &Ctxt, input: &Input) -> Option<Model> {
    let item = input.item;
    let table = match (&input.attrs.table, &input.orm.table) {
        (Some(table), _) => non_empty(cx, table.value.clone(), table.span, "table"),
        (None, Some(orm_table)) => orm_table.clone(),
        (None, None) => snake_case(&item.ident.unraw().to_string()),
    };
    let schema = input
        .attrs
        .schema
        .as_ref()
        .map(|schema| non_empty(cx, schema.value.clone(), schema.span, "schema"));

    check_field_options(cx, &input.fields);
    check_one_write_token(cx, &input.fields);
    let write_log = resolve_write_log(cx, input);
    let persisted: Vec<&Field> = input
        .fields
        .iter()
        .filter(|field| field.attrs.skip.is_none())
        .collect();
    let keys = resolve_keys(cx, input, &persisted);
    let lock = resolve_lock(cx, input);
    let version = match lock {
        Lock::Version => resolve_version(cx, input, &persisted),
        Lock::Xmin => resolve_xmin(cx, input, &persisted),
        Lock::Dirty | Lock::All => {
            check_locked_by_values(cx, lock, &persisted);
            None
        }
    };

    let columns: Vec<Column> = persisted
        .iter()
        .enumerate()
        .map(|(position, field)| {
            let role = if keys.contains(&field.ident) {
                Role::Key
            } else if version == Some(field.ident) {
                Role::Version
            } else if field.attrs.excluded.is_some() {
                Role::Excluded
            } else if field.attrs.write_token.is_some() {
                Role::WriteToken
            } else {
                Role::Data
            };
            Column {
                field: field.ident.clone(),
                ty: field.ty.clone(),
                name: column_name(cx, field),
                role,
                variant: variant_name(field.ident, position),
            }
        })
        .collect();
    check_unique(
        cx,
        &columns,
        |column| column.name.clone(),
        |name, first| {
            format!(
                "`#[{NAME}]` maps column `{name}` twice (field `{first}` has it already): give one of them another \
             name with `#[{NAME}(column = \"..\")]`"
            )
        },
    );
    check_unique(
        cx,
        &columns,
        |column| column.variant.to_string(),
        |variant, first| {
            format!(
                "`#[{NAME}]` would name this field's column `{}Iden::{variant}`, like field `{first}`'s: rename \
             one of the fields",
                item.ident
            )
        },
    );

    if cx.has_errors() {
        return None;
    }
    Some(Model {
        ident: item.ident.clone(),
        vis: item.vis.clone(),
        generics: item.generics.clone(),
        krate: input
            .attrs
            .krate
            .clone()
            .unwrap_or_else(|| parse_quote!(::optimistic_core)),
        schema,
        table,
        columns,
        skipped: input
            .fields
            .iter()
            .filter(|field| field.attrs.skip.is_some())
            .map(|field| (field.ident.clone(), field.ty.clone()))
            .collect(),
        lock,
        write_log,
    })
}

/// `write_log = "table"`: the log records each write's token, so the struct needs one.
fn resolve_write_log(cx: &Ctxt, input: &Input) -> Option<String> {
    let log = input.attrs.write_log.as_ref()?;
    let name = non_empty(cx, log.value.clone(), log.span, "write_log");
    let has_token = input
        .fields
        .iter()
        .any(|field| field.attrs.write_token.is_some());
    if !has_token {
        cx.push(syn::Error::new(
            log.span,
            format!(
                "`#[{NAME}(write_log = ..)]` records each write's token, and this struct has \
                 none: add a `#[{NAME}(write_token)] write_token: WriteToken` field (a \
                 `BIGINT NOT NULL` column)"
            ),
        ));
    }
    Some(name)
}

/// `lock = "version" | "dirty" | "all"`; the default is a version column.
fn resolve_lock(cx: &Ctxt, input: &Input) -> Lock {
    let Some(lock) = &input.attrs.lock else {
        return Lock::Version;
    };
    match lock.value.as_str() {
        "version" => Lock::Version,
        "dirty" => Lock::Dirty,
        "all" => Lock::All,
        "xmin" => Lock::Xmin,
        other => {
            cx.push(syn::Error::new(
                lock.span,
                format!(
                    "`#[{NAME}(lock = {other:?})]` is not a way to lock: write `lock = \"dirty\"` \
                     (compare the old values of the changed columns), `lock = \"all\"` (of every \
                     column), `lock = \"xmin\"` (PostgreSQL's system column) or \
                     `lock = \"version\"` (a version column, the default)"
                ),
            ));
            Lock::Version
        }
    }
}

/// Under `lock = "xmin"`, the version is the field for PostgreSQL's `xmin`: marked `version`,
/// or of type `Xmin`, or named `xmin`; of type `Xmin`, and in the column `xmin`.
fn resolve_xmin<'a>(cx: &Ctxt, input: &Input<'a>, persisted: &[&Field<'a>]) -> Option<&'a Ident> {
    let candidates: Vec<&Field> = persisted
        .iter()
        .copied()
        .filter(|field| {
            field.attrs.key.is_none()
                && (field.attrs.version.is_some()
                    || last_segment_is(field.ty, "Xmin")
                    || field.ident.unraw() == "xmin")
        })
        .collect();
    let Some(field) = candidates.first() else {
        cx.error_at(
            &input.item.ident,
            format!(
                "`#[{NAME}(lock = \"xmin\")]` needs a field for PostgreSQL's `xmin`: add \
                 `xmin: optimistic_core::Xmin`"
            ),
        );
        return None;
    };
    for other in &candidates[1..] {
        cx.error_at(
            other.ident,
            format!(
                "`#[{NAME}(lock = \"xmin\")]` takes one `xmin` field, and `{}` already is: \
                 remove this one",
                field.ident
            ),
        );
    }
    if !last_segment_is(field.ty, "Xmin") {
        cx.error_at(
            field.ty,
            format!(
                "`#[{NAME}(lock = \"xmin\")]` reads PostgreSQL's `xmin` (a transaction id) into \
                 `optimistic_core::Xmin`: give `{}` that type",
                field.ident
            ),
        );
    }
    if let Some(column) = &field.attrs.column
        && column.value != "xmin"
    {
        cx.push(syn::Error::new(
            column.span,
            format!(
                "`#[{NAME}(lock = \"xmin\")]` compares PostgreSQL's system column, which is \
                 called `xmin`: remove `column = {:?}`",
                column.value
            ),
        ));
    } else if field.attrs.column.is_none() && field.ident.unraw() != "xmin" {
        cx.error_at(
            field.ident,
            format!(
                "`#[{NAME}(lock = \"xmin\")]` compares PostgreSQL's system column `xmin`: name \
                 the field `xmin`, or add `#[{NAME}(column = \"xmin\")]`"
            ),
        );
    }
    Some(field.ident)
}

/// A table locked by values has no version, and compares its data columns, which a float
/// (or JSON, which PostgreSQL cannot compare) would make unreliable.
fn check_locked_by_values(cx: &Ctxt, lock: Lock, persisted: &[&Field]) {
    let lock = lock.name();
    for field in persisted {
        let attrs = &field.attrs;
        if let Some(version) = attrs.version {
            cx.push(syn::Error::new(
                version,
                format!(
                    "`#[{NAME}(lock = \"{lock}\")]` compares column values instead of a version: \
                     remove `version` here, or `lock` on the struct to keep the version column"
                ),
            ));
            continue;
        }
        let compared =
            attrs.key.is_none() && attrs.excluded.is_none() && attrs.write_token.is_none();
        if !compared {
            continue;
        }
        if last_segment_is(field.ty, "Version") {
            cx.error_at(
                field.ty,
                format!(
                    "`#[{NAME}(lock = \"{lock}\")]` has no version column, but this field is a \
                     `Version`: remove the field, or `lock` on the struct to keep the version column"
                ),
            );
        } else if let Some((unsafe_type, why)) = unreliably_equal(field.ty) {
            cx.error_at(
                field.ty,
                format!(
                    "`#[{NAME}(lock = \"{lock}\")]` cannot compare a `{unsafe_type}`: {why}; mark \
                     the field `#[{NAME}(excluded)]` to leave it out of the comparison, or lock \
                     the table with a version column"
                ),
            );
        }
    }
}

/// A type whose equality is unsafe for a value comparison (`f32`, `f64`, a JSON value, also
/// inside an `Option`): its name and why.
fn unreliably_equal(ty: &Type) -> Option<(String, &'static str)> {
    let Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident == "Option"
        && let syn::PathArguments::AngleBracketed(arguments) = &last.arguments
        && let Some(syn::GenericArgument::Type(inner)) = arguments.args.first()
    {
        return unreliably_equal(inner);
    }
    let name = last.ident.to_string();
    let in_serde_json = path
        .path
        .segments
        .iter()
        .any(|segment| segment.ident == "serde_json");
    match name.as_str() {
        "f32" | "f64" => Some((
            name,
            "a float read back may differ from what was written in its last bits, and then the \
             write would never match",
        )),
        "Json" | "JsonValue" => Some((name, JSON_UNEQUAL)),
        "Value" if in_serde_json => Some(("serde_json::Value".to_owned(), JSON_UNEQUAL)),
        _ => None,
    }
}

const JSON_UNEQUAL: &str =
    "PostgreSQL's `json` has no equality, and a database may store JSON reformatted";

/// Options that contradict each other on one field.
fn check_field_options(cx: &Ctxt, fields: &[Field]) {
    for field in fields {
        let attrs = &field.attrs;
        if let (Some(_), Some(version)) = (attrs.key, attrs.version) {
            cx.push(syn::Error::new(
                version,
                "an `#[optimistic]` field cannot be both the key and the version: keep `key` on the key field and \
                 put `version` on a separate field",
            ));
        }
        if let Some(excluded) = attrs.excluded {
            let clash = [
                ("key", attrs.key),
                ("version", attrs.version),
                ("skip", attrs.skip),
            ]
            .into_iter()
            .find_map(|(what, span)| span.map(|_| what));
            if let Some(what) = clash {
                cx.push(syn::Error::new(
                    excluded,
                    format!(
                        "`#[{NAME}(excluded)]` cannot go with `{what}`: only a data column can be \
                         left out of versioning; remove one of them"
                    ),
                ));
            }
        }
        if let Some(write_token) = attrs.write_token {
            let clash = [
                ("key", attrs.key),
                ("version", attrs.version),
                ("skip", attrs.skip),
                ("excluded", attrs.excluded),
            ]
            .into_iter()
            .find_map(|(what, span)| span.map(|_| what));
            if let Some(what) = clash {
                cx.push(syn::Error::new(
                    write_token,
                    format!(
                        "`#[{NAME}(write_token)]` cannot go with `{what}`: the write token is a \
                         column of its own, set by every versioned write; remove one of them"
                    ),
                ));
            }
        }
        if let Some(skip) = attrs.skip {
            let clash = [("key", attrs.key), ("version", attrs.version)]
                .into_iter()
                .find_map(|(what, span)| span.map(|_| what));
            if let Some(what) = clash {
                cx.push(syn::Error::new(
                    skip,
                    format!(
                        "`#[{NAME}(skip)]` cannot go on the {what} field: the versioned statements need it; \
                         remove `skip`"
                    ),
                ));
            } else if attrs.column.is_some() {
                cx.push(syn::Error::new(
                    skip,
                    "`#[optimistic(skip)]` leaves the field without a column: remove `column = ..` or `skip`",
                ));
            }
        }
    }
}

/// At most one field is the write token.
fn check_one_write_token(cx: &Ctxt, fields: &[Field]) {
    // A token also marked with a clashing option was reported already.
    let marked: Vec<&Field> = fields
        .iter()
        .filter(|field| {
            let attrs = &field.attrs;
            attrs.write_token.is_some()
                && [attrs.key, attrs.version, attrs.skip, attrs.excluded]
                    .iter()
                    .all(Option::is_none)
        })
        .collect();
    for extra in marked.iter().skip(1) {
        cx.push(syn::Error::new(
            extra
                .attrs
                .write_token
                .unwrap_or_else(|| extra.ident.span()),
            format!(
                "`#[{NAME}]` takes one write token field, and `{}` already is: remove this \
                 `write_token`",
                marked[0].ident
            ),
        ));
    }
}

fn resolve_keys<'a>(cx: &Ctxt, input: &Input<'a>, persisted: &[&Field<'a>]) -> Vec<&'a Ident> {
    let mut keys: Vec<&Field> = persisted
        .iter()
        .copied()
        .filter(|field| field.attrs.key.is_some())
        .collect();
    // Unmarked: the ORM's primary key (SeaORM's on its fields, Diesel's on the struct), else
    // the field named `id`.
    if keys.is_empty() {
        let diesel_keys = &input.orm.primary_key_fields;
        keys.extend(persisted.iter().copied().filter(|field| {
            let named = || diesel_keys.contains(&field.ident.unraw().to_string());
            (field.orm.primary_key || named()) && field.attrs.version.is_none()
        }));
    }
    if keys.is_empty() {
        keys.extend(
            persisted
                .iter()
                .copied()
                .filter(|field| field.ident.unraw() == "id" && field.attrs.version.is_none()),
        );
    }
    let misread = input.fields.iter().any(|f| f.attrs.misread);
    if keys.is_empty() && !misread && !input.fields.iter().any(|f| f.attrs.key.is_some()) {
        cx.error_at(
            &input.item.ident,
            format!(
                "`#[{NAME}]` needs a key: mark the key field(s) `#[{NAME}(key)]`, or name the \
                 key field `id`"
            ),
        );
    }
    for key in &keys {
        if last_segment_is(key.ty, "Option") {
            cx.error_at(
                key.ty,
                "an `#[optimistic]` key cannot be an `Option`: NULL never equals anything in SQL, so a versioned \
                 write could never find the row; use the non-null type",
            );
        }
    }
    keys.iter().map(|field| field.ident).collect()
}

fn resolve_version<'a>(
    cx: &Ctxt,
    input: &Input<'a>,
    persisted: &[&Field<'a>],
) -> Option<&'a Ident> {
    // A field marked both key and version was reported already; it stays a key.
    let marked: Vec<&Field> = persisted
        .iter()
        .copied()
        .filter(|field| field.attrs.version.is_some() && field.attrs.key.is_none())
        .collect();
    for extra in marked.iter().skip(1) {
        cx.push(syn::Error::new(
            extra.attrs.version.unwrap_or_else(|| extra.ident.span()),
            format!(
                "`#[{NAME}]` takes one version field, and `{}` already is: remove this `version`",
                marked[0].ident
            ),
        ));
    }
    if let Some(version) = marked.first() {
        // Its type is checked by the compiler against `VersionValue`, whose message lists the
        // supported types; a syntactic check here would reject type aliases.
        return Some(version.ident);
    }
    if input.fields.iter().any(|f| f.attrs.version.is_some()) {
        return None; // marked but also skipped or a key: already reported
    }
    let typed: Vec<&Field> = persisted
        .iter()
        .copied()
        .filter(|field| field.attrs.key.is_none() && last_segment_is(field.ty, "Version"))
        .collect();
    match typed.as_slice() {
        [version] => Some(version.ident),
        // A misspelled option was reported already, and may have been meant as `version`.
        [] if input.fields.iter().any(|f| f.attrs.misread) => None,
        [] => {
            // A field named like a version column is most likely it, with another type.
            let named = persisted.iter().find(|field| {
                field.attrs.key.is_none()
                    && matches!(
                        field.ident.unraw().to_string().as_str(),
                        "version" | "lock_version"
                    )
            });
            match named {
                Some(field) => cx.error_at(
                    field.ident,
                    format!(
                        "`#[{NAME}]` needs a version field, and `{0}` is not marked as one: \
                         mark it `#[{NAME}(version)]` to keep its type (`i64`, `i32`, `i16`, or \
                         an `Option` of one), or give it the type `Version`",
                        field.ident
                    ),
                ),
                None => cx.error_at(
                    &input.item.ident,
                    format!(
                        "`#[{NAME}]` needs a version field: mark one field `#[{NAME}(version)]` \
                         or give it the type `Version`"
                    ),
                ),
            }
            None
        }
        [first, rest @ ..] => {
            for other in rest {
                cx.error_at(
                    other.ident,
                    format!(
                        "`#[{NAME}]` cannot tell which field is the version: `{}` and `{}` both \
                         have the type `Version`; mark the version `#[{NAME}(version)]`",
                        first.ident, other.ident
                    ),
                );
            }
            None
        }
    }
}

fn column_name(cx: &Ctxt, field: &Field) -> String {
    match (&field.attrs.column, &field.orm.column) {
        (Some(column), _) => non_empty(cx, column.value.clone(), column.span, "column"),
        (None, Some(orm_column)) => orm_column.clone(),
        (None, None) => field.ident.unraw().to_string(),
    }
}

fn non_empty(cx: &Ctxt, name: String, span: Span, what: &str) -> String {
    if name.trim().is_empty() {
        let example = match what {
            "table" => "seats",
            "schema" => "booking",
            "write_log" => "optimistic_write_log",
            _ => "passenger_name",
        };
        cx.push(syn::Error::new(
            span,
            format!("`#[{NAME}]` needs a {what} name, and this one is empty: write the name, e.g. `{what} = \"{example}\"`"),
        ));
    }
    name
}

/// Reports each column whose `key` was already taken by an earlier one.
fn check_unique(
    cx: &Ctxt,
    columns: &[Column],
    key: impl Fn(&Column) -> String,
    message: impl Fn(&str, &Ident) -> String,
) {
    let mut seen: HashMap<String, &Ident> = HashMap::new();
    for column in columns {
        let value = key(column);
        match seen.get(&value) {
            Some(first) => cx.error_at(&column.field, message(&value, first)),
            None => {
                seen.insert(value, &column.field);
            }
        }
    }
}

fn last_segment_is(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == name),
        Type::Group(group) => last_segment_is(&group.elem, name),
        Type::Paren(paren) => last_segment_is(&paren.elem, name),
        _ => false,
    }
}

/// `SeatMap` -> `seat_map`, `HTTPRequest` -> `http_request`.
pub(crate) fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut snake = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() && i > 0 {
            let previous = chars[i - 1];
            let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if previous.is_lowercase()
                || previous.is_ascii_digit()
                || (previous.is_uppercase() && next_is_lower)
            {
                snake.push('_');
            }
        }
        snake.extend(c.to_lowercase());
    }
    snake
}

/// `is_booked` -> `IsBooked`. A name that would clash with the enum's own `Table` variant gets
/// a `Column` suffix; one that is no identifier at all (a keyword, or a field named only with
/// underscores and digits) becomes `Column<position>`.
pub(crate) fn variant_name(field: &Ident, position: usize) -> Ident {
    let mut pascal: String = field
        .unraw()
        .to_string()
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect();
    if pascal == "Table" {
        pascal.push_str("Column");
    }
    // Checked before building the Ident, which would panic on a non-identifier.
    match syn::parse_str::<Ident>(&pascal) {
        Ok(mut variant) if pascal.starts_with(|c: char| !c.is_ascii_digit()) => {
            variant.set_span(field.span());
            variant
        }
        _ => format_ident!("Column{}", position, span = field.span()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast;
    use quote::quote;

    fn check(
        args: proc_macro2::TokenStream,
        item: syn::DeriveInput,
    ) -> (Option<Model>, Vec<String>) {
        let cx = Ctxt::default();
        let model = ast::parse(&cx, args, &item).and_then(|input| validate(&cx, &input));
        let messages = cx.messages();
        (model, messages)
    }

    #[test]
    fn applies_the_defaults() {
        let (model, errors) = check(
            quote!(),
            parse_quote! {
                struct SeatMap { id: i64, r#type: String, #[optimistic(skip)] cache: u8, version: Version }
            },
        );
        assert!(errors.is_empty(), "{errors:?}");
        let model = model.unwrap();
        assert_eq!(model.table, "seat_map");
        assert_eq!(model.schema, None);
        let summary: Vec<_> = model
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.role, c.variant.to_string()))
            .collect();
        assert_eq!(
            summary,
            [
                ("id", Role::Key, "Id".to_owned()),
                ("type", Role::Data, "Type".to_owned()),
                ("version", Role::Version, "Version".to_owned()),
            ]
        );
    }

    #[test]
    fn honours_explicit_options() {
        let (model, errors) = check(
            quote!(table = "seats", schema = "booking"),
            parse_quote! {
                struct Seat {
                    #[optimistic(key)] flight: String,
                    #[optimistic(key, column = "seat_no")] seat: i32,
                    table: i32,
                    #[optimistic(version, column = "lock_version")] v: Version,
                }
            },
        );
        assert!(errors.is_empty(), "{errors:?}");
        let model = model.unwrap();
        assert_eq!(model.qualified_table(), "booking.seats");
        let keys: Vec<_> = model.keys().map(|c| c.name.as_str()).collect();
        assert_eq!(keys, ["flight", "seat_no"]);
        assert_eq!(model.columns[2].variant, "TableColumn");
        assert_eq!(model.columns[3].name, "lock_version");
        assert_eq!(model.columns[3].role, Role::Version);
    }

    #[test]
    fn reads_a_sea_orm_entitys_names_behind_its_own_options() {
        let (model, errors) = check(
            quote!(),
            parse_quote! {
                #[sea_orm(table_name = "seat_assignments", comment = "x")]
                struct Model {
                    #[sea_orm(primary_key, auto_increment = false)] flight: String,
                    #[sea_orm(primary_key)] seat: i32,
                    #[sea_orm(column_name = "passenger", column_type = "Text", nullable)] name: Option<String>,
                    #[optimistic(column = "mine")] #[sea_orm(column_name = "theirs")] other: i64,
                    #[sea_orm(ignore)] #[optimistic(skip)] cache: u8,
                    version: Version,
                }
            },
        );
        assert!(errors.is_empty(), "{errors:?}");
        let model = model.unwrap();
        assert_eq!(model.table, "seat_assignments");
        let keys: Vec<_> = model.keys().map(|c| c.name.as_str()).collect();
        assert_eq!(keys, ["flight", "seat"]);
        let names: Vec<_> = model.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["flight", "seat", "passenger", "mine", "version"]);

        let (model, errors) = check(
            quote!(table = "ours"),
            parse_quote! {
                #[sea_orm(table_name = "theirs")]
                struct Model { #[sea_orm(primary_key)] code: String, #[optimistic(key)] id: i64, version: Version }
            },
        );
        assert!(errors.is_empty(), "{errors:?}");
        let model = model.unwrap();
        assert_eq!(model.table, "ours");
        let keys: Vec<_> = model.keys().map(|c| c.name.as_str()).collect();
        assert_eq!(keys, ["id"], "a marked key wins over SeaORM's");
    }

    #[test]
    fn reads_a_diesel_models_names_behind_its_own_options() {
        let (model, errors) = check(
            quote!(),
            parse_quote! {
                #[derive(Queryable, Selectable, Identifiable)]
                #[diesel(table_name = crate::schema::seat_assignments, check_for_backend(diesel::pg::Pg))]
                #[diesel(primary_key(flight, seat))]
                struct Assignment {
                    flight: String,
                    seat: i32,
                    #[diesel(column_name = passenger, sql_type = Text)] name: Option<String>,
                    #[optimistic(column = "mine")] #[diesel(column_name = theirs)] other: i64,
                    #[diesel(column_name = "quoted")] quoted: i64,
                    id: i64,
                    version: Version,
                }
            },
        );
        assert!(errors.is_empty(), "{errors:?}");
        let model = model.unwrap();
        assert_eq!(model.table, "seat_assignments");
        let keys: Vec<_> = model.keys().map(|c| c.name.as_str()).collect();
        assert_eq!(
            keys,
            ["flight", "seat"],
            "Diesel's primary key wins over `id`"
        );
        let names: Vec<_> = model.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "flight",
                "seat",
                "passenger",
                "mine",
                "quoted",
                "id",
                "version"
            ]
        );
    }

    #[test]
    fn reports_all_mistakes_at_once() {
        let (model, errors) = check(
            quote!(table = ""),
            parse_quote! {
                struct Seat {
                    #[optimistic(key, version)] id: Option<i64>,
                    a: i64,
                    #[optimistic(column = "a")] b: i64,
                }
            },
        );
        assert!(model.is_none());
        let expected = [
            "needs a table name",
            "both the key and the version",
            "key cannot be an `Option`",
            "maps column `a` twice",
        ];
        assert_eq!(errors.len(), expected.len(), "{errors:?}");
        for (error, expected) in errors.iter().zip(expected) {
            assert!(error.contains(expected), "{error:?} lacks {expected:?}");
        }
    }

    #[test]
    fn needs_a_key_and_exactly_one_version() {
        let (_, errors) = check(
            quote!(),
            parse_quote!(
                struct Seat {
                    seat: i64,
                    n: i32,
                }
            ),
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("needs a key"));
        assert!(errors[1].contains("needs a version field"));

        let (_, errors) = check(
            quote!(),
            parse_quote!(
                struct Seat {
                    id: i64,
                    a: Version,
                    b: Version,
                }
            ),
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("cannot tell which field is the version"));

        let (_, errors) = check(
            quote!(),
            parse_quote! {
                struct Seat { id: i64, #[optimistic(version)] a: Version, #[optimistic(version)] b: Version }
            },
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("takes one version field"));
    }

    #[test]
    fn rejects_skipping_what_the_statements_need() {
        let (_, errors) = check(
            quote!(),
            parse_quote! {
                struct Seat { #[optimistic(key, skip)] id: i64, #[optimistic(skip, version)] v: Version }
            },
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("cannot go on the key field")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("cannot go on the version field")),
            "{errors:?}"
        );
    }

    #[test]
    fn rejects_items_that_are_not_named_structs() {
        for item in [
            parse_quote!(
                enum Seat {
                    A,
                }
            ),
            parse_quote!(union Seat { a: i64 }),
            parse_quote!(
                struct Seat(i64, Version);
            ),
            parse_quote!(
                struct Seat;
            ),
        ] {
            let (model, errors) = check(quote!(), item);
            assert!(model.is_none());
            assert_eq!(errors.len(), 1, "{errors:?}");
        }
    }

    #[test]
    fn converts_names() {
        assert_eq!(snake_case("Seat"), "seat");
        assert_eq!(snake_case("SeatMap"), "seat_map");
        assert_eq!(snake_case("HTTPRequest"), "http_request");
        assert_eq!(snake_case("Order2Line"), "order2_line");
        assert_eq!(variant_name(&format_ident!("is_booked"), 0), "IsBooked");
        assert_eq!(variant_name(&format_ident!("r#type"), 0), "Type");
        assert_eq!(variant_name(&format_ident!("table"), 0), "TableColumn");
        assert_eq!(variant_name(&format_ident!("self_"), 3), "Column3");
        assert_eq!(variant_name(&format_ident!("__"), 4), "Column4");
        assert_eq!(variant_name(&format_ident!("_1st"), 5), "Column5");
        assert_eq!(variant_name(&format_ident!("émile_zola"), 0), "ÉmileZola");
    }
}
