//! Generates the code for a validated [`Model`].

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::Input;
use crate::model::{Lock, Model, Role};

/// `impl Optimistic`, `impl FromRow` and the `<Struct>Iden` enum. No inherent methods: the
/// statements are the trait's (`use optimistic_core::Optimistic`), so none can shadow, or be
/// shadowed by, an ORM's method of the same name (SeaORM's `delete`, Diesel's `update`).
pub(crate) fn expand(model: &Model) -> TokenStream {
    let iden = iden_enum(model);
    let optimistic = impl_optimistic(model);
    let from_row = impl_from_row(model);
    let Model { ident, .. } = model;
    let (impl_generics, ty_generics, where_clause) = model.generics.split_for_impl();
    quote! {
        #iden
        #optimistic
        #from_row
        // A mapped struct may only ever be built by `FromRow` (a driver's read): this keeps
        // rustc's dead-code pass from calling it never constructed, or its fields never read.
        #[allow(dead_code)]
        impl #impl_generics #ident #ty_generics #where_clause {}
    }
}

/// For a struct the macro refused: the traits implemented with bodies that never run, as
/// thiserror's fallback does, so the code that uses the struct adds no errors of its own to the
/// one that says what to fix. The key and version types are the fields' where they can be told.
pub(crate) fn fallback(input: &Input) -> TokenStream {
    let ident = &input.item.ident;
    let krate = input
        .attrs
        .krate
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::optimistic_core));
    let (impl_generics, ty_generics, where_clause) = input.item.generics.split_for_impl();
    let named = |name: &'static str| input.fields.iter().filter(move |field| field.ident == name);
    let marked_keys: Vec<_> = input
        .fields
        .iter()
        .filter(|field| {
            field.attrs.key.is_some()
                || field.orm.primary_key
                || input
                    .orm
                    .primary_key_fields
                    .iter()
                    .any(|key| field.ident == key)
        })
        .collect();
    let keys = if marked_keys.is_empty() {
        named("id").collect()
    } else {
        marked_keys
    };
    let key_type = match keys.as_slice() {
        [key] => {
            let ty = key.ty;
            quote!(#ty)
        }
        keys => {
            let types = keys.iter().map(|key| key.ty);
            quote!((#(#types,)*))
        }
    };
    let version = input
        .fields
        .iter()
        .find(|field| field.attrs.version.is_some())
        .or_else(|| named("version").next());
    let version_type = match version {
        Some(field) => {
            let ty = field.ty;
            quote!(#ty)
        }
        None => quote!(#krate::Version),
    };
    let sea_query = quote!(#krate::__private::sea_query);
    let unreachable = quote!(::core::unreachable!("`#[optimistic]` refused this struct"));
    let mut with_row = input.item.generics.clone();
    with_row
        .params
        .push(syn::parse_quote!(__OptimisticRow: #krate::DriverRow + ?::core::marker::Sized));
    let (row_generics, _, _) = with_row.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics #krate::Optimistic for #ident #ty_generics #where_clause {
            type Key = #key_type;
            const TABLE: #krate::Table = #krate::__private::REFUSED_TABLE;
            fn key(&self) -> Self::Key { #unreachable }
            type Version = #version_type;
            fn version(&self) -> Self::Version { #unreachable }
            fn set_version(&mut self, _: Self::Version) { #unreachable }
            fn visit_values<W, F>(&self, _: W, _: F)
            where
                W: ::core::ops::Fn(#krate::Role) -> bool,
                F: ::core::ops::FnMut(usize, #sea_query::Value),
            {
                #unreachable
            }
            fn copy_column(&mut self, _: usize, _: &Self) { #unreachable }
            fn key_values(_: &Self::Key) -> ::std::vec::Vec<#sea_query::Value> { #unreachable }
        }

        #[automatically_derived]
        impl #row_generics #krate::FromRow<__OptimisticRow> for #ident #ty_generics #where_clause {
            fn from_row(
                _: &__OptimisticRow,
            ) -> ::core::result::Result<Self, <__OptimisticRow as #krate::DriverRow>::Error> {
                #unreachable
            }
        }
    }
}

fn impl_optimistic(model: &Model) -> TokenStream {
    let Model { ident, krate, .. } = model;
    let (impl_generics, ty_generics, where_clause) = model.generics.split_for_impl();
    let sea_query = quote!(#krate::__private::sea_query);

    let schema = match &model.schema {
        Some(schema) => quote!(::core::option::Option::Some(#schema)),
        None => quote!(::core::option::Option::None),
    };
    let table = &model.table;
    let columns = model.columns.iter().map(|column| {
        let name = &column.name;
        let role = role_path(krate, column.role);
        quote!(#krate::Column::new(#name, #role))
    });

    let keys: Vec<_> = model.keys().collect();
    let (key_type, key_value, fmt_key) = match keys.as_slice() {
        // One key: the trait's own `fmt_key`, where `Key: Debug` is known, so a key type
        // without `Debug` is reported once, at `type Key`.
        [key] => {
            let (field, ty) = (&key.field, &key.ty);
            (
                quote_spanned!(ty.span()=> #ty),
                quote_spanned!(ty.span()=> ::core::clone::Clone::clone(&self.#field)),
                None,
            )
        }
        keys => {
            let types = keys.iter().map(|key| &key.ty);
            let values = keys.iter().map(|key| {
                let field = &key.field;
                quote_spanned!(key.ty.span()=> ::core::clone::Clone::clone(&self.#field))
            });
            let parts = keys.iter().enumerate().map(|(i, key)| {
                let label = format!("{}{} = ", if i == 0 { "" } else { ", " }, key.name);
                let index = syn::Index::from(i);
                quote_spanned! {key.ty.span()=>
                    f.write_str(#label)?;
                    ::core::fmt::Debug::fmt(&key.#index, f)?;
                }
            });
            let span = keys[0].ty.span();
            (
                quote_spanned!(span=> (#(#types,)*)),
                quote!((#(#values,)*)),
                Some(quote! {
                    fn fmt_key(
                        key: &Self::Key,
                        f: &mut ::core::fmt::Formatter<'_>,
                    ) -> ::core::fmt::Result {
                        #(#parts)*
                        ::core::result::Result::Ok(())
                    }
                }),
            )
        }
    };

    let key_values = match keys.as_slice() {
        [key] => {
            let ty = &key.ty;
            vec![quote_spanned! {ty.span()=>
                ::core::convert::Into::<#sea_query::Value>::into(::core::clone::Clone::clone(key))
            }]
        }
        keys => keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let index = syn::Index::from(i);
                quote_spanned! {key.ty.span()=>
                    ::core::convert::Into::<#sea_query::Value>::into(
                        ::core::clone::Clone::clone(&key.#index)
                    )
                }
            })
            .collect(),
    };
    let version_column = model
        .columns
        .iter()
        .find(|column| column.role == Role::Version);
    // Spanned at the field's type, so an unsupported type is blamed there.
    // A table locked by values has no version column: `NoVersion` stands in.
    let (version_type, version, store_version) = match version_column {
        Some(column) => {
            let (field, ty) = (&column.field, &column.ty);
            (
                quote_spanned!(ty.span()=> #ty),
                quote_spanned!(ty.span()=> ::core::clone::Clone::clone(&self.#field)),
                quote!(self.#field = version;),
            )
        }
        None => (
            quote!(#krate::NoVersion),
            quote!(#krate::NoVersion),
            quote!(let _ = version;),
        ),
    };
    let table_new = match model.lock {
        Lock::Version => quote!(#krate::Table::new(#schema, #table, &[#(#columns),*])),
        Lock::Xmin => quote!(#krate::Table::postgres_xmin(#schema, #table, &[#(#columns),*])),
        Lock::Dirty | Lock::All => {
            let locking = match model.lock {
                Lock::Dirty => quote!(#krate::Locking::Dirty),
                _ => quote!(#krate::Locking::All),
            };
            quote!(#krate::Table::locked_by_values(#schema, #table, &[#(#columns),*], #locking))
        }
    };
    let table_new = match &model.write_log {
        Some(log) => quote!(#table_new.with_write_log(#log)),
        None => table_new,
    };
    // Spanned at the field's type, so a field of another type is blamed there.
    let (token_written, write_token) = match model.write_token() {
        Some(column) => {
            let (field, ty) = (&column.field, &column.ty);
            (
                Some(quote_spanned! {ty.span()=>
                    #krate::__private::write_token_written(&mut self.#field);
                }),
                Some(quote! {
                    fn write_token(&self) -> ::core::option::Option<&#krate::WriteToken> {
                        #krate::__private::write_token_of(&self.#field)
                    }
                }),
            )
        }
        None => (None, None),
    };
    let visits = model.columns.iter().enumerate().map(|(position, column)| {
        let field = &column.field;
        let role = role_path(krate, column.role);
        let value = if column.role == Role::Version {
            // Through `Optimistic::version`, so a version type needs nothing but
            // `VersionValue`, and an unsupported one is reported once, at `type Version`.
            quote!(#krate::__private::version_value(self))
        } else {
            quote_spanned! {column.ty.span()=>
                ::core::convert::Into::<#sea_query::Value>::into(
                    ::core::clone::Clone::clone(&self.#field)
                )
            }
        };
        quote! {
            if wanted(#role) {
                visit(#position, #value);
            }
        }
    });

    let copies = model.columns.iter().enumerate().map(|(position, column)| {
        let field = &column.field;
        quote_spanned! {column.ty.span()=>
            #position => self.#field = ::core::clone::Clone::clone(&source.#field),
        }
    });

    quote! {
        impl #impl_generics #krate::Optimistic for #ident #ty_generics #where_clause {
            // Spanned at the key's type, so "private type in public interface" points there.
            type Key = #key_type;

            const TABLE: #krate::Table = #table_new;

            fn key(&self) -> Self::Key {
                #key_value
            }

            type Version = #version_type;

            fn version(&self) -> Self::Version {
                #version
            }

            fn set_version(&mut self, version: Self::Version) {
                #store_version
                #token_written
            }

            #write_token

            fn visit_values<W, F>(&self, wanted: W, mut visit: F)
            where
                W: ::core::ops::Fn(#krate::Role) -> bool,
                F: ::core::ops::FnMut(usize, #sea_query::Value),
            {
                #(#visits)*
            }

            fn copy_column(&mut self, position: usize, source: &Self) {
                match position {
                    #(#copies)*
                    _ => {}
                }
            }

            fn sql_cache() -> ::core::option::Option<&'static #krate::__private::SqlCache> {
                // One per struct (shared by a generic struct's instances, whose SQL is the same).
                static CACHE: #krate::__private::SqlCache = #krate::__private::SqlCache::new();
                ::core::option::Option::Some(&CACHE)
            }

            fn key_values(key: &Self::Key) -> ::std::vec::Vec<#sea_query::Value> {
                ::std::vec::Vec::from([#(#key_values),*])
            }

            #fmt_key
        }
    }
}

/// `FromRow<R>` for every row type `R` that reads each persisted field's type by column name.
/// The bounds sit on `R`, so they are checked where a row is read, not here: a field type that
/// one enabled driver cannot decode does not break the struct for the others.
fn impl_from_row(model: &Model) -> TokenStream {
    let Model { ident, krate, .. } = model;
    let mut generics = model.generics.clone();
    generics
        .params
        .push(syn::parse_quote!(__OptimisticRow: ?::core::marker::Sized));
    let (impl_generics, _, _) = generics.split_for_impl();
    let (_, ty_generics, where_clause) = model.generics.split_for_impl();
    let predicates = where_clause.map(|clause| &clause.predicates);

    let reads = model.columns.iter().map(|column| {
        let (field, ty, name) = (&column.field, &column.ty, &column.name);
        let bound = quote_spanned! {ty.span()=>
            __OptimisticRow: #krate::GetColumn<#ty>
        };
        let read = if column.role == Role::Version {
            quote_spanned! {ty.span()=>
                #field: #krate::__private::read_version::<Self, __OptimisticRow>(row, #name)?
            }
        } else {
            quote_spanned! {ty.span()=>
                #field: <__OptimisticRow as #krate::GetColumn<#ty>>::get_column(row, #name)?
            }
        };
        (bound, read)
    });
    let defaults = model.skipped.iter().map(|(field, ty)| {
        let bound = quote_spanned! {ty.span()=>
            __OptimisticRow: #krate::__private::SkippedDefault<#ty>
        };
        let read = quote_spanned! {ty.span()=>
            #field: <__OptimisticRow as #krate::__private::SkippedDefault<#ty>>::skipped_default()
        };
        (bound, read)
    });
    let (bounds, fields): (Vec<_>, Vec<_>) = reads.chain(defaults).unzip();
    quote! {
        #[automatically_derived]
        impl #impl_generics #krate::FromRow<__OptimisticRow> for #ident #ty_generics
        where
            #(#bounds,)*
            #predicates
        {
            fn from_row(
                row: &__OptimisticRow,
            ) -> ::core::result::Result<Self, <__OptimisticRow as #krate::DriverRow>::Error> {
                ::core::result::Result::Ok(Self { #(#fields,)* })
            }
        }
    }
}

fn role_path(krate: &syn::Path, role: Role) -> TokenStream {
    let variant = match role {
        Role::Key => quote!(Key),
        Role::Version => quote!(Version),
        Role::Data => quote!(Data),
        Role::Excluded => quote!(Excluded),
        Role::WriteToken => quote!(WriteToken),
    };
    quote!(#krate::Role::#variant)
}

/// The statement builders as inherent methods, so calling them needs no trait import.
fn iden_enum(model: &Model) -> TokenStream {
    let Model {
        ident, vis, krate, ..
    } = model;
    let iden = model.iden_ident();
    let table = &model.table;
    let doc = format!(
        "Identifiers of table `{}` and its columns, for hand-written sea-query queries \
         (generated by `#[optimistic]` for [`{ident}`]).",
        model.qualified_table()
    );
    let table_doc = format!("The table `{table}`, unqualified.");
    let variants = model.columns.iter().map(|column| {
        let variant = &column.variant;
        let doc = format!("The column `{}`.", column.name);
        quote! {
            #[doc = #doc]
            #variant
        }
    });
    let arms = model.columns.iter().map(|column| {
        let (variant, name) = (&column.variant, &column.name);
        quote!(Self::#variant => #name)
    });
    quote! {
        #[doc = #doc]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(dead_code)]
        #vis enum #iden {
            #[doc = #table_doc]
            Table,
            #(#variants,)*
        }

        #[automatically_derived]
        impl #krate::__private::sea_query::Iden for #iden {
            fn unquoted(&self) -> &str {
                match self {
                    Self::Table => #table,
                    #(#arms,)*
                }
            }
        }
    }
}
