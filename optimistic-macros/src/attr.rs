//! Parses the options of `#[optimistic(..)]`, on the struct and on its fields.

use proc_macro2::{Span, TokenTree};
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Attribute, LitStr, Token};

use crate::ctxt::Ctxt;

/// The attribute's name, as users write it.
pub(crate) const NAME: &str = "optimistic";

/// An option's value with the span to blame in errors.
#[derive(Clone, Debug)]
pub(crate) struct WithSpan<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// Options given on the struct: `#[optimistic(table = "..", schema = "..", crate = "..",
/// lock = "..", write_log = "..")]`.
#[derive(Default)]
pub(crate) struct StructAttrs {
    pub(crate) table: Option<WithSpan<String>>,
    pub(crate) schema: Option<WithSpan<String>>,
    pub(crate) krate: Option<syn::Path>,
    /// `lock = "version" | "dirty" | "all"`.
    pub(crate) lock: Option<WithSpan<String>>,
    /// `write_log = "table"`: where the write tokens of committed writes are recorded.
    pub(crate) write_log: Option<WithSpan<String>>,
}

/// Options given on a field: `#[optimistic(key, version, column = "..", skip, excluded,
/// write_token)]`.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    pub(crate) key: Option<Span>,
    pub(crate) version: Option<Span>,
    pub(crate) column: Option<WithSpan<String>>,
    pub(crate) skip: Option<Span>,
    pub(crate) excluded: Option<Span>,
    pub(crate) write_token: Option<Span>,
    /// Some option on the field was not understood (and reported): it may have been meant as
    /// `key` or `version`, so a missing key or version is not reported on top of it.
    pub(crate) misread: bool,
}

/// What an ORM's own attributes say about names, read as defaults so a model states its table,
/// column names and primary key once: SeaORM's `#[sea_orm(..)]` and Diesel's `#[diesel(..)]`.
/// Everything else in them is the ORM's business: other options and malformed values are passed
/// over silently.
#[derive(Default)]
pub(crate) struct OrmNames {
    /// `table_name = ".."` (SeaORM) or `table_name = path::to::table` (Diesel) on the struct.
    pub(crate) table: Option<String>,
    /// `column_name = ".."` (SeaORM) or `column_name = ident` (Diesel) on a field.
    pub(crate) column: Option<String>,
    /// SeaORM's `primary_key` on a field.
    pub(crate) primary_key: bool,
    /// Diesel's `primary_key(a, b)` on the struct: the key fields, by name.
    pub(crate) primary_key_fields: Vec<String>,
}

/// Reads the names out of every `#[sea_orm(..)]` and `#[diesel(..)]` among `attrs`.
pub(crate) fn parse_orm_names(attrs: &[Attribute]) -> OrmNames {
    let mut names = OrmNames::default();
    for attr in attrs {
        // The ORM reports its own mistakes; a malformed attribute just gives no names here.
        if attr.path().is_ident("sea_orm") {
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("table_name") {
                    names.table = Some(meta.value()?.parse::<LitStr>()?.value());
                } else if meta.path.is_ident("column_name") {
                    names.column = Some(meta.value()?.parse::<LitStr>()?.value());
                } else {
                    names.primary_key |= meta.path.is_ident("primary_key");
                    skip_value(&meta)?;
                }
                Ok(())
            });
        } else if attr.path().is_ident("diesel") {
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("table_name") {
                    // The `table!` module's name, which is the SQL name unless `sql_name` says
                    // otherwise (and then `#[optimistic(table = ..)]` must).
                    let path = meta.value()?.parse::<syn::Path>()?;
                    names.table = path.segments.last().map(|s| s.ident.unraw().to_string());
                } else if meta.path.is_ident("column_name") {
                    let value = meta.value()?;
                    names.column = Some(if value.peek(LitStr) {
                        value.parse::<LitStr>()?.value()
                    } else {
                        value.parse::<syn::Ident>()?.unraw().to_string()
                    });
                } else if meta.path.is_ident("primary_key") {
                    meta.parse_nested_meta(|key| {
                        if let Some(ident) = key.path.get_ident() {
                            names.primary_key_fields.push(ident.unraw().to_string());
                        }
                        Ok(())
                    })?;
                } else {
                    skip_value(&meta)?;
                }
                Ok(())
            });
        }
    }
    names
}

const STRUCT_OPTIONS: &[&str] = &["table", "schema", "crate", "lock", "write_log"];
const FIELD_OPTIONS: &[&str] = &[
    "key",
    "version",
    "column",
    "skip",
    "excluded",
    "write_token",
];

/// Parses the macro's own arguments, the `..` of `#[optimistic(..)]` on the struct.
pub(crate) fn parse_struct_args(cx: &Ctxt, args: proc_macro2::TokenStream) -> StructAttrs {
    let mut attrs = StructAttrs::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("table") {
            if let Some(value) = string_value(cx, &meta)? {
                set_once(cx, &meta, &mut attrs.table, value);
            }
        } else if meta.path.is_ident("schema") {
            if let Some(value) = string_value(cx, &meta)? {
                set_once(cx, &meta, &mut attrs.schema, value);
            }
        } else if meta.path.is_ident("lock") {
            if let Some(value) = string_value(cx, &meta)? {
                set_once(cx, &meta, &mut attrs.lock, value);
            }
        } else if meta.path.is_ident("write_log") {
            if let Some(value) = string_value(cx, &meta)? {
                set_once(cx, &meta, &mut attrs.write_log, value);
            }
        } else if meta.path.is_ident("crate") {
            let literal: LitStr = meta.value()?.parse()?;
            match literal.parse::<syn::Path>() {
                Ok(path) if attrs.krate.is_none() => attrs.krate = Some(path),
                Ok(_) => cx.push(duplicate(&meta)),
                Err(_) => cx.error_at(
                    &literal,
                    format!(
                        "`#[{NAME}(crate = {:?})]` needs a path: give the path to \
                         optimistic_core, e.g. `crate = \"my_crate::optimistic_core\"`",
                        literal.value()
                    ),
                ),
            }
        } else if FIELD_OPTIONS
            .iter()
            .any(|option| meta.path.is_ident(option))
        {
            cx.push(meta.error(format!(
                "`{}` is a field option: put `#[{NAME}({})]` on the field it applies to",
                path_name(&meta),
                path_name(&meta),
            )));
            skip_value(&meta)?;
        } else {
            cx.push(unknown(&meta, STRUCT_OPTIONS));
            skip_value(&meta)?;
        }
        Ok(())
    });
    if let Err(error) = parser.parse2(args) {
        cx.push(error);
    }
    attrs
}

/// Parses every `#[optimistic(..)]` among one field's attributes.
pub(crate) fn parse_field_attrs(cx: &Ctxt, attrs: &[Attribute]) -> FieldAttrs {
    let mut parsed = FieldAttrs::default();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident(NAME)) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("key") {
                set_flag(cx, &meta, &mut parsed.key);
            } else if meta.path.is_ident("version") {
                set_flag(cx, &meta, &mut parsed.version);
            } else if meta.path.is_ident("skip") {
                set_flag(cx, &meta, &mut parsed.skip);
            } else if meta.path.is_ident("excluded") {
                set_flag(cx, &meta, &mut parsed.excluded);
            } else if meta.path.is_ident("write_token") {
                set_flag(cx, &meta, &mut parsed.write_token);
            } else if meta.path.is_ident("column") {
                if let Some(value) = string_value(cx, &meta)? {
                    set_once(cx, &meta, &mut parsed.column, value);
                }
            } else if STRUCT_OPTIONS
                .iter()
                .any(|option| meta.path.is_ident(option))
            {
                cx.push(meta.error(format!(
                    "`{}` is a struct option: write it in the `#[{NAME}(..)]` above the struct",
                    path_name(&meta)
                )));
                parsed.misread = true;
                skip_value(&meta)?;
            } else {
                cx.push(unknown(&meta, FIELD_OPTIONS));
                parsed.misread = true;
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(error) = result {
            cx.push(error);
            parsed.misread = true;
        }
    }
    parsed
}

/// The string after `option =`; a value of another kind is reported (at the value) and skipped,
/// so the options after it are still checked.
fn string_value(cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<Option<WithSpan<String>>> {
    let input = meta.value()?;
    if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        return Ok(Some(WithSpan {
            value: literal.value(),
            span: literal.span(),
        }));
    }
    let name = path_name(meta);
    cx.push(syn::Error::new(
        input.span(),
        format!("`#[{NAME}]` option `{name}` takes a string: write `{name} = \"..\"`"),
    ));
    skip_to_comma(input)?;
    Ok(None)
}

fn set_once<T>(cx: &Ctxt, meta: &ParseNestedMeta, slot: &mut Option<T>, value: T) {
    if slot.is_some() {
        cx.push(duplicate(meta));
    } else {
        *slot = Some(value);
    }
}

fn set_flag(cx: &Ctxt, meta: &ParseNestedMeta, slot: &mut Option<Span>) {
    if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
        cx.push(meta.error(format!(
            "`#[{NAME}]` option `{}` takes no value: write just `{}`",
            path_name(meta),
            path_name(meta)
        )));
        // Best effort: the flag's meaning is clear, keep going.
        let _ = skip_value(meta);
    }
    set_once(cx, meta, slot, meta.path.span());
}

fn duplicate(meta: &ParseNestedMeta) -> syn::Error {
    meta.error(format!(
        "`#[{NAME}]` option `{}` is given twice: keep one",
        path_name(meta)
    ))
}

fn unknown(meta: &ParseNestedMeta, known: &[&str]) -> syn::Error {
    let name = path_name(meta);
    let list = known
        .iter()
        .map(|option| format!("`{option}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match closest(&name, known) {
        Some(close) => meta.error(format!(
            "unknown `#[{NAME}]` option `{name}`: did you mean `{close}`? (expected one of {list})"
        )),
        None => meta.error(format!(
            "unknown `#[{NAME}]` option `{name}`: expected one of {list}"
        )),
    }
}

/// The known option within two edits of `name`, for "did you mean".
fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|option| (edit_distance(name, option), *option))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, option)| option)
}

/// Levenshtein distance, counting an adjacent swap as one edit (`tabel` -> `table`).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitution = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + substitution);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// Consumes whatever value an option we reject carries (`= ..` or `(..)`), so parsing goes on
/// to the next option and reports its mistakes too.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.input.parse::<Token![=]>()?;
        skip_to_comma(meta.input)?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.input.parse::<TokenTree>()?;
    }
    Ok(())
}

fn skip_to_comma(input: syn::parse::ParseStream) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<TokenTree>()?;
    }
    Ok(())
}

fn path_name(meta: &ParseNestedMeta) -> String {
    meta.path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn suggests_close_options_only() {
        assert_eq!(closest("tabel", STRUCT_OPTIONS), Some("table"));
        assert_eq!(closest("shema", STRUCT_OPTIONS), Some("schema"));
        assert_eq!(closest("colum", FIELD_OPTIONS), Some("column"));
        assert_eq!(closest("primary", FIELD_OPTIONS), None);
    }

    #[test]
    fn parses_struct_options() {
        let cx = Ctxt::default();
        let attrs = parse_struct_args(
            &cx,
            quote!(
                table = "seats",
                schema = "booking",
                crate = "reexport::optimistic_core"
            ),
        );
        assert!(!cx.has_errors(), "{:?}", cx.messages());
        assert_eq!(attrs.table.map(|t| t.value).as_deref(), Some("seats"));
        assert_eq!(attrs.schema.map(|t| t.value).as_deref(), Some("booking"));
        assert!(attrs.krate.is_some());
    }

    #[test]
    fn reports_every_struct_option_mistake() {
        let cx = Ctxt::default();
        parse_struct_args(
            &cx,
            quote!(
                tabel = "x",
                table = "a",
                table = "b",
                key,
                crate = "not a path"
            ),
        );
        let messages = cx.messages();
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(messages[0].contains("did you mean `table`"));
        assert!(messages[1].contains("is given twice"));
        assert!(messages[2].contains("field option"));
        assert!(messages[3].contains("not a path"));
    }

    #[test]
    fn parses_combined_field_options() {
        let cx = Ctxt::default();
        let field: syn::Field = syn::parse_quote! {
            #[optimistic(version, column = "lock_version")]
            version: Version
        };
        let attrs = parse_field_attrs(&cx, &field.attrs);
        assert!(!cx.has_errors(), "{:?}", cx.messages());
        assert!(attrs.version.is_some() && attrs.key.is_none() && attrs.skip.is_none());
        assert_eq!(
            attrs.column.map(|c| c.value).as_deref(),
            Some("lock_version")
        );
    }

    #[test]
    fn reports_field_option_mistakes() {
        let cx = Ctxt::default();
        let field: syn::Field = syn::parse_quote! {
            #[optimistic(key, kye, table = "x", column = 5, skip)]
            #[optimistic(key)]
            id: i64
        };
        parse_field_attrs(&cx, &field.attrs);
        let messages = cx.messages();
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(messages[0].contains("did you mean `key`"));
        assert!(messages[1].contains("struct option"));
        assert!(messages[2].contains("takes a string"));
        assert!(messages[3].contains("given twice"));
    }

    #[test]
    fn reports_flag_values_and_keeps_going() {
        let cx = Ctxt::default();
        let field: syn::Field = syn::parse_quote! {
            #[optimistic(key = true, version)]
            id: i64
        };
        let attrs = parse_field_attrs(&cx, &field.attrs);
        assert_eq!(cx.messages().len(), 1, "{:?}", cx.messages());
        assert!(cx.messages()[0].contains("takes no value"));
        assert!(attrs.key.is_some() && attrs.version.is_some());
    }
}
