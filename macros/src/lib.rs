//! The `#[no_alloc]` attribute of [`alloc_guard`]. Use it through the
//! re-export, `alloc_guard::no_alloc` (default feature `macros`); the
//! generated code names `::alloc_guard`, so this crate is not useful alone.
//!
//! `#[no_alloc]` on a function or method makes a `NoAllocGuard` the first
//! thing its body does; the guard lives until the body ends, so early
//! `return`, `?` and unwinding end it correctly. On an `async fn` the body
//! becomes an `alloc_guard::NoAllocFuture`, which holds a guard during each
//! poll only. The guard's creation site (`#[track_caller]` location) is the
//! annotated function's name.
//!
//! [`alloc_guard`]: https://docs.rs/alloc_guard

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Ident, Item, ItemFn, Meta, Token};

/// What the attribute may be put on, quoted by every misuse error.
const ALLOWED_ON: &str = "#[no_alloc] goes on a function or method with a body: \
     `fn`, `async fn` or `unsafe fn` (not a `const fn`, a closure, or another kind of item); \
     to guard a closure or a block, use `alloc_guard::forbid_alloc(policy, || ...)` or a \
     `NoAllocGuard`";

/// The arguments it accepts, quoted by every argument error.
const ARGS_HELP: &str = "expected at most one policy (`panic`, the default, `abort` or `log`) \
     and/or `allow_frees`, e.g. `#[no_alloc]`, `#[no_alloc(abort)]`, \
     `#[no_alloc(log, allow_frees)]`";

/// Guards the body of a function or method with an `alloc_guard::NoAllocGuard`.
///
/// See `alloc_guard::no_alloc` for the documentation and examples.
#[proc_macro_attribute]
pub fn no_alloc(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr.into(), item.into()).into()
}

/// The attribute's arguments.
#[derive(Debug, PartialEq)]
struct Args {
    /// Variant name of `alloc_guard::Policy`.
    policy: &'static str,
    allow_frees: bool,
}

impl Args {
    fn parse(attr: TokenStream2) -> syn::Result<Args> {
        let metas = Punctuated::<Meta, Token![,]>::parse_terminated
            .parse2(attr)
            .map_err(|e| syn::Error::new(e.span(), format!("#[no_alloc]: {e}; {ARGS_HELP}")))?;
        let mut policy: Option<(Ident, &'static str)> = None;
        let mut allow_frees = false;
        for meta in metas {
            let Some(ident) = meta
                .path()
                .get_ident()
                .filter(|_| matches!(meta, Meta::Path(_)))
            else {
                return Err(syn::Error::new_spanned(
                    &meta,
                    format!(
                        "#[no_alloc]: unknown argument `{}`; {ARGS_HELP}",
                        meta.to_token_stream()
                    ),
                ));
            };
            let variant = match ident.to_string().as_str() {
                "panic" => "Panic",
                "abort" => "Abort",
                "log" => "LogBacktrace",
                "allow_frees" => {
                    if allow_frees {
                        return Err(syn::Error::new_spanned(
                            ident,
                            "#[no_alloc]: `allow_frees` is given twice",
                        ));
                    }
                    allow_frees = true;
                    continue;
                }
                other => {
                    return Err(syn::Error::new_spanned(
                        ident,
                        format!("#[no_alloc]: unknown argument `{other}`; {ARGS_HELP}"),
                    ));
                }
            };
            if let Some((first, _)) = &policy {
                return Err(syn::Error::new_spanned(
                    ident,
                    format!(
                        "#[no_alloc]: two policies, `{first}` and `{ident}`: choose one; {ARGS_HELP}"
                    ),
                ));
            }
            policy = Some((ident.clone(), variant));
        }
        Ok(Args {
            policy: policy.map_or("Panic", |(_, v)| v),
            allow_frees,
        })
    }
}

/// The whole transformation, on `proc_macro2` tokens so it can be unit-tested.
fn expand(attr: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let args = match Args::parse(attr) {
        Ok(args) => args,
        Err(e) => return with_item(e, item),
    };
    let mut function = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(f) => f,
        Err(_) if matches!(syn::parse2(item.clone()), Ok(syn::Expr::Closure(_))) => {
            // Only reachable on nightly (attributes on expressions are
            // unstable): the output must stay one expression.
            let error = misuse(&item).to_compile_error();
            return quote! {{ #error #item }};
        }
        Err(_) => return with_item(misuse(&item), item),
    };
    if let Some(constness) = &function.sig.constness {
        let e = syn::Error::new_spanned(
            constness,
            format!(
                "#[no_alloc] cannot be used on a `const fn`: a NoAllocGuard is made at run \
                 time, and a const fn also runs at compile time. {ALLOWED_ON}"
            ),
        );
        return with_item(e, item);
    }
    // The guard is made with the function name's span, so its
    // `#[track_caller]` location (reported as "guard made at") is the
    // annotated function, not this macro.
    let span = function.sig.ident.span();
    let policy = Ident::new(args.policy, span);
    let block = &function.block;
    let ctor = Ident::new(
        if args.allow_frees {
            "allowing_frees"
        } else {
            "new"
        },
        span,
    );
    let body = if function.sig.asyncness.is_some() {
        // Guard each poll of the body, not the thread across `.await`s.
        // An async block does not see the function's return type, so name
        // it for the body's tail (as the function would), where it can be.
        let body = match nameable_return_type(&function.sig.output) {
            Some(ty) => {
                let ret = Ident::new("__alloc_guard_return", Span::mixed_site());
                quote! {{
                    let #ret: #ty = #block;
                    #ret
                }}
            }
            None => block.to_token_stream(),
        };
        let future = quote_spanned! {span=>
            ::alloc_guard::NoAllocFuture::#ctor(async move #body, ::alloc_guard::Policy::#policy)
        };
        quote! {{ #future.await }}
    } else {
        let guard = Ident::new("__alloc_guard_no_alloc", Span::mixed_site());
        let make = quote_spanned! {span=>
            ::alloc_guard::NoAllocGuard::#ctor(::alloc_guard::Policy::#policy)
        };
        quote! {{
            let #guard = #make;
            #block
        }}
    };
    function.block = match syn::parse2(body) {
        Ok(block) => Box::new(block),
        Err(e) => return with_item(e, item),
    };
    function.into_token_stream()
}

/// The return type, if it can be written as a `let` annotation: not `()`
/// (nothing to infer), `!` (unstable there) or anything with `impl Trait`.
fn nameable_return_type(output: &syn::ReturnType) -> Option<&syn::Type> {
    fn has_impl(tokens: TokenStream2) -> bool {
        tokens.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => i == "impl",
            proc_macro2::TokenTree::Group(g) => has_impl(g.stream()),
            _ => false,
        })
    }
    match output {
        syn::ReturnType::Type(_, ty)
            if !matches!(**ty, syn::Type::Never(_)) && !has_impl(ty.to_token_stream()) =>
        {
            Some(ty)
        }
        _ => None,
    }
}

/// The error for input that is not a function with a body, naming what it is.
fn misuse(item: &TokenStream2) -> syn::Error {
    if let Ok(f) = syn::parse2::<syn::TraitItemFn>(item.clone()) {
        return syn::Error::new_spanned(
            &f.sig,
            format!(
                "#[no_alloc] needs a function body to guard; on a trait method declaration, \
                 put it on the implementations instead. {ALLOWED_ON}"
            ),
        );
    }
    if let Ok(syn::Expr::Closure(c)) = syn::parse2::<syn::Expr>(item.clone()) {
        return syn::Error::new_spanned(
            &c.or1_token,
            format!("#[no_alloc] cannot be used on a closure. {ALLOWED_ON}"),
        );
    }
    let what = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Struct(_)) => "a struct",
        Ok(Item::Enum(_)) => "an enum",
        Ok(Item::Union(_)) => "a union",
        Ok(Item::Impl(_)) => "an impl block (put it on each method instead)",
        Ok(Item::Trait(_)) => "a trait",
        Ok(Item::Mod(_)) => "a module",
        Ok(Item::Const(_)) => "a const",
        Ok(Item::Static(_)) => "a static",
        Ok(Item::Type(_)) => "a type alias",
        Ok(Item::ForeignMod(_)) => "an extern block",
        Ok(Item::Use(_)) => "a use declaration",
        Ok(Item::Macro(_)) => "a macro",
        _ => "this item",
    };
    let mut tokens = item.clone().into_iter();
    let span = tokens.next().map_or_else(Span::call_site, |t| t.span());
    syn::Error::new(
        span,
        format!("#[no_alloc] cannot be used on {what}. {ALLOWED_ON}"),
    )
}

/// The error, followed by the item unchanged (so the error is the only one).
fn with_item(error: syn::Error, item: TokenStream2) -> TokenStream2 {
    let mut tokens = error.to_compile_error();
    tokens.extend(item);
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(tokens: TokenStream2) -> Result<Args, String> {
        Args::parse(tokens).map_err(|e| e.to_string())
    }

    fn expanded(attr: TokenStream2, item: TokenStream2) -> String {
        expand(attr, item).to_string()
    }

    #[test]
    fn argument_forms() {
        let a = |policy, allow_frees| {
            Ok(Args {
                policy,
                allow_frees,
            })
        };
        assert_eq!(args(quote!()), a("Panic", false));
        assert_eq!(args(quote!(panic)), a("Panic", false));
        assert_eq!(args(quote!(abort)), a("Abort", false));
        assert_eq!(args(quote!(log)), a("LogBacktrace", false));
        assert_eq!(args(quote!(allow_frees)), a("Panic", true));
        assert_eq!(args(quote!(log, allow_frees)), a("LogBacktrace", true));
        assert_eq!(args(quote!(allow_frees, abort,)), a("Abort", true));
    }

    #[test]
    fn argument_errors_say_what_is_allowed() {
        for (tokens, says) in [
            (quote!(fast), "unknown argument `fast`"),
            (
                quote!(policy = "log"),
                "unknown argument `policy = \"log\"`",
            ),
            (quote!(log(1)), "unknown argument `log (1)`"),
            (quote!(abort, log), "two policies, `abort` and `log`"),
            (
                quote!(allow_frees, allow_frees),
                "`allow_frees` is given twice",
            ),
            (quote!(1), "#[no_alloc]: "),
        ] {
            let e = args(tokens).unwrap_err();
            assert!(e.contains(says), "{e}");
            if !says.contains("twice") {
                assert!(e.contains("`abort` or `log`"), "{e}");
            }
        }
    }

    #[test]
    fn sync_fn_gets_a_guard_named_after_the_function() {
        let out = expanded(
            quote!(log, allow_frees),
            quote!(
                pub fn f(x: u8) -> u8 {
                    x
                }
            ),
        );
        assert!(out.starts_with("pub fn f (x : u8) -> u8"), "{out}");
        assert!(
            out.contains(
                "let __alloc_guard_no_alloc = :: alloc_guard :: NoAllocGuard :: allowing_frees \
                 (:: alloc_guard :: Policy :: LogBacktrace) ; { x }"
            ),
            "{out}"
        );
    }

    #[test]
    fn async_fn_becomes_a_guarded_future() {
        let out = expanded(
            quote!(),
            quote!(
                async fn f(&self) -> u8 {
                    self.0
                }
            ),
        );
        assert!(out.starts_with("async fn f (& self) -> u8"), "{out}");
        assert!(
            out.contains(
                ":: alloc_guard :: NoAllocFuture :: new (async move { \
                 let __alloc_guard_return : u8 = { self . 0 } ; __alloc_guard_return } , \
                 :: alloc_guard :: Policy :: Panic) . await"
            ),
            "{out}"
        );
        for unnamed in [
            quote!(),
            quote!(-> impl Sized),
            quote!(-> Box<impl Fn()>),
            quote!(-> !),
        ] {
            let out = expanded(quote!(), quote!(async fn f() #unnamed { loop {} }));
            assert!(out.contains("(async move { loop { } } ,"), "{out}");
        }
    }

    #[test]
    fn misuse_errors_say_what_is_allowed() {
        for (item, says) in [
            (
                quote!(
                    const fn f() {}
                ),
                "cannot be used on a `const fn`",
            ),
            (
                quote!(
                    struct S;
                ),
                "cannot be used on a struct",
            ),
            (quote!(impl S {}), "cannot be used on an impl block"),
            (
                quote!(
                    fn f(&self);
                ),
                "needs a function body",
            ),
            (quote!(|x| x + 1), "cannot be used on a closure"),
            (quote!(let f = || 1;), "cannot be used on this item"),
        ] {
            let out = expanded(quote!(), item);
            assert!(out.contains("compile_error"), "{out}");
            assert!(out.contains(says), "{out}");
            assert!(
                out.contains("goes on a function or method with a body"),
                "{out}"
            );
        }
    }
}
