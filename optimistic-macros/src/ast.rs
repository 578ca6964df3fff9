//! Parses the annotated item into a struct and its fields, each with its parsed options.

use proc_macro2::TokenStream;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, Type};

use crate::attr::{self, FieldAttrs, OrmNames, StructAttrs};
use crate::ctxt::Ctxt;

/// The annotated struct, borrowing from the parsed item.
pub(crate) struct Input<'a> {
    pub(crate) item: &'a DeriveInput,
    pub(crate) attrs: StructAttrs,
    /// A SeaORM entity's table name, the default for `table`.
    pub(crate) orm: OrmNames,
    pub(crate) fields: Vec<Field<'a>>,
}

pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) attrs: FieldAttrs,
    /// A SeaORM entity field's column name and primary-key mark, defaults for ours.
    pub(crate) orm: OrmNames,
}

/// Parses the macro arguments and the item. `None` when the item is not a struct with named
/// fields (the reason is in `cx`); option mistakes are recorded in `cx` but still yield an input,
/// so validation can report its own findings in the same build.
pub(crate) fn parse<'a>(cx: &Ctxt, args: TokenStream, item: &'a DeriveInput) -> Option<Input<'a>> {
    let attrs = attr::parse_struct_args(cx, args);
    for repeated in item.attrs.iter().filter(|a| a.path().is_ident(attr::NAME)) {
        cx.error_at(
            repeated,
            format!(
                "`#[{0}]` is applied twice: merge the options into the first `#[{0}(..)]`",
                attr::NAME
            ),
        );
    }
    let fields = match &item.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => &named.named,
            Fields::Unnamed(unnamed) => {
                cx.error_at(
                    unnamed,
                    format!(
                        "`#[{}]` needs named fields, which become the column names: \
                         write `struct {} {{ id: .., version: Version, .. }}`",
                        attr::NAME,
                        item.ident
                    ),
                );
                return None;
            }
            Fields::Unit => {
                cx.error_at(
                    &item.ident,
                    format!(
                        "`#[{}]` needs a struct with fields: at least a key and a version",
                        attr::NAME
                    ),
                );
                return None;
            }
        },
        Data::Enum(data) => {
            cx.push(not_a_struct(data.enum_token.span(), "an enum"));
            return None;
        }
        Data::Union(data) => {
            cx.push(not_a_struct(data.union_token.span(), "a union"));
            return None;
        }
    };
    let fields = fields
        .iter()
        .filter_map(|field| {
            Some(Field {
                ident: field.ident.as_ref()?,
                ty: &field.ty,
                attrs: attr::parse_field_attrs(cx, &field.attrs),
                orm: attr::parse_orm_names(&field.attrs),
            })
        })
        .collect();
    Some(Input {
        item,
        attrs,
        orm: attr::parse_orm_names(&item.attrs),
        fields,
    })
}

fn not_a_struct(span: proc_macro2::Span, what: &str) -> syn::Error {
    syn::Error::new(
        span,
        format!(
            "`#[{}]` maps a struct with named fields to a table; it cannot go on {what}",
            attr::NAME
        ),
    )
}

/// The error for an item that is not even a struct, enum or union (a `fn`, an `impl`, ..),
/// pointing at its keyword: the first identifier after its attributes and visibility.
pub(crate) fn not_a_struct_item(item: &TokenStream) -> syn::Error {
    let mut tokens = item.clone().into_iter().peekable();
    let keyword = loop {
        match tokens.next() {
            // `#` then `[..]`: an attribute.
            Some(proc_macro2::TokenTree::Punct(punct)) if punct.as_char() == '#' => {
                tokens.next();
            }
            Some(proc_macro2::TokenTree::Ident(ident)) if ident == "pub" => {
                if let Some(proc_macro2::TokenTree::Group(_)) = tokens.peek() {
                    tokens.next();
                }
            }
            Some(proc_macro2::TokenTree::Ident(ident)) => break Some(ident),
            Some(_) => {}
            None => break None,
        }
    };
    let message = |what: &str| {
        format!(
            "`#[{}]` maps a struct with named fields to a table; it cannot go on {what}",
            attr::NAME
        )
    };
    match keyword {
        Some(keyword) => syn::Error::new(keyword.span(), message(&format!("`{keyword}` items"))),
        None => syn::Error::new(proc_macro2::Span::call_site(), message("this item")),
    }
}

/// The item as the user wrote it, minus our own attributes, which the compiler would otherwise
/// reject (an attribute macro cannot declare helper attributes).
pub(crate) fn strip_attrs(mut item: DeriveInput) -> DeriveInput {
    item.attrs.retain(|a| !a.path().is_ident(attr::NAME));
    let fields: Vec<&mut syn::Field> = match &mut item.data {
        Data::Struct(data) => data.fields.iter_mut().collect(),
        Data::Enum(data) => data
            .variants
            .iter_mut()
            .flat_map(|variant| variant.fields.iter_mut())
            .collect(),
        Data::Union(data) => data.fields.named.iter_mut().collect(),
    };
    for field in fields {
        field.attrs.retain(|a| !a.path().is_ident(attr::NAME));
    }
    item
}
