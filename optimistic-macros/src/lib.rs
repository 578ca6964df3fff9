//! The `#[optimistic]` attribute. Depend on `optimistic-core`, which re-exports it and documents
//! it; the generated code names that crate.
//!
//! The pipeline: [`ast`] parses the item and its options ([`attr`]), [`valid`] checks them and
//! fills in the defaults to build the plain-data [`model`], and [`expand`] generates from that.
//! Errors are collected in a [`ctxt::Ctxt`] so one build reports every mistake.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod model;
mod valid;

use proc_macro::TokenStream;
use quote::quote;

/// Maps a struct with a version column to a table and generates versioned sea-query statements
/// for it. Documented in `optimistic-core`.
#[proc_macro_attribute]
pub fn optimistic(args: TokenStream, item: TokenStream) -> TokenStream {
    optimistic2(args.into(), item.into()).into()
}

fn optimistic2(
    args: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let item: syn::DeriveInput = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(_) => {
            let error = syn::Error::new(
                proc_macro2::Span::call_site(),
                format!(
                    "`#[{}]` goes on a struct with named fields, which it maps to a table",
                    attr::NAME
                ),
            )
            .to_compile_error();
            return quote!(#error #item);
        }
    };
    let cx = ctxt::Ctxt::default();
    let model = ast::parse(&cx, args, &item).and_then(|input| valid::validate(&cx, &input));
    let item = ast::strip_attrs(item);
    match model {
        // Errors found while parsing options still count, even when a model could be built.
        Some(model) if !cx.has_errors() => {
            let generated = expand::expand(&model);
            quote!(#item #generated)
        }
        // The struct itself is still emitted, so the user sees our errors and no cascade of
        // "cannot find type" errors from the code that uses it.
        _ => {
            let errors = cx.into_compile_errors();
            quote!(#item #errors)
        }
    }
}
