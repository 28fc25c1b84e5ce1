//! The `#[no_alloc]` attribute of [`alloc_guard`]. Use it through the
//! re-export, `alloc_guard::no_alloc` (default feature `macros`); the
//! generated code names `::alloc_guard` (or the path given with
//! `crate = path`), so this crate is not useful alone.
//!
//! `#[no_alloc]` on a function or method makes a `NoAllocGuard` the first
//! thing its body does; the guard lives until the body ends, so early
//! `return`, `?` and unwinding end it correctly. On an `async fn` the body
//! becomes an `alloc_guard::NoAllocFuture`, which holds a guard during each
//! poll only. The guard's creation site (`#[track_caller]` location) is the
//! annotated function's name.
//!
//! By-value arguments are dropped inside the guard, mentioned by the body or
//! not (so freeing one is a violation unless `allow_frees`): each is moved
//! into the guarded scope, after the guard, with `let x = x;` (a `mut x`
//! argument becomes `let mut x = x;`). An argument whose pattern is `_` or
//! destructures (`(a, b): (A, B)`) is renamed `__alloc_guard_arg<i>` in the
//! signature and destructured in the guarded scope, as rustc lowers an
//! `async fn`. A `self` taken by value cannot be rebound, so a sync method
//! runs its body in a `move` closure (called once, in the guarded scope) that
//! captures all of `self`; an `async fn` captures all of `self` in its
//! guarded `async move` block. Reference arguments (`&T`, `&mut T`,
//! `Pin<&T>`, `Pin<&mut T>`, `&self`) are left alone: they own nothing.
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
const ARGS_HELP: &str = "expected at most one policy (`panic`, the default, `abort` or `log`), \
     `allow_frees`, and `crate = path` if `alloc_guard` is reachable under another name \
     (`crate = ag`, `crate = ::ag`, `crate = some::reexport`), in any order, e.g. \
     `#[no_alloc]`, `#[no_alloc(abort)]`, `#[no_alloc(log, allow_frees)]`, \
     `#[no_alloc(allow_frees, crate = ag)]`";

/// Guards the body of a function or method with an `alloc_guard::NoAllocGuard`.
///
/// See `alloc_guard::no_alloc` for the documentation and examples.
#[proc_macro_attribute]
pub fn no_alloc(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr.into(), item.into()).into()
}

/// The attribute's arguments.
struct Args {
    /// Variant name of `alloc_guard::Policy`.
    policy: &'static str,
    allow_frees: bool,
    /// `crate = path`: where `alloc_guard` is, if not at `::alloc_guard`.
    krate: Option<syn::Path>,
}

impl Args {
    fn parse(attr: TokenStream2) -> syn::Result<Args> {
        let metas = Punctuated::<Meta, Token![,]>::parse_terminated
            .parse2(attr)
            .map_err(|e| syn::Error::new(e.span(), format!("#[no_alloc]: {e}; {ARGS_HELP}")))?;
        let mut policy: Option<(Ident, &'static str)> = None;
        let mut allow_frees = false;
        let mut krate: Option<syn::Path> = None;
        for meta in metas {
            if meta.path().is_ident("crate") {
                if krate.is_some() {
                    return Err(syn::Error::new_spanned(
                        &meta,
                        format!("#[no_alloc]: `crate` is given twice; {ARGS_HELP}"),
                    ));
                }
                krate = Some(crate_path(meta)?);
                continue;
            }
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
            krate,
        })
    }
}

/// The path of `crate = path`: a plain path (`ag`, `::ag`, `crate::ag`,
/// `$crate::reexport`), without generic arguments.
fn crate_path(meta: Meta) -> syn::Result<syn::Path> {
    let error = |tokens: &dyn ToTokens, what: &str| {
        Err(syn::Error::new_spanned(
            tokens,
            format!("#[no_alloc]: {what}; {ARGS_HELP}"),
        ))
    };
    let Meta::NameValue(nv) = meta else {
        return error(
            &meta,
            "`crate` needs the path alloc_guard is at: `crate = path`",
        );
    };
    match nv.value {
        syn::Expr::Path(p)
            if p.attrs.is_empty()
                && p.qself.is_none()
                && p.path.segments.iter().all(|s| s.arguments.is_none()) =>
        {
            Ok(p.path)
        }
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => error(
            &s,
            &format!(
                "`crate` takes a path, not a string: write `crate = {}`",
                s.value()
            ),
        ),
        other => error(
            &other,
            &format!(
                "`crate = {}` is not a path to the alloc_guard crate",
                other.to_token_stream()
            ),
        ),
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
    // annotated function, not this macro. The constructor is called as
    // `<path::Type>::ctor(..)`, so the call's span starts and ends with
    // tokens of that span, even when `path` is the user's `crate = path`
    // (with the attribute's spans, which are kept: `$crate` needs its own).
    let span = function.sig.ident.span();
    let krate = match &args.krate {
        Some(path) => path.to_token_stream(),
        None => quote_spanned!(span=> ::alloc_guard),
    };
    let policy = Ident::new(args.policy, span);
    let ctor = Ident::new(
        if args.allow_frees {
            "allowing_frees"
        } else {
            "new"
        },
        span,
    );
    let moves = by_value_arguments(&mut function.sig);
    // The body, as a block whose braces are marked as this expansion's
    // (while still pointing at the user's): as the tail of the guarded
    // block, a one-line body would otherwise get `unused_braces`.
    let block = {
        let span = function.block.brace_token.span.join();
        let mut braces = proc_macro2::Group::new(
            proc_macro2::Delimiter::Brace,
            function
                .block
                .stmts
                .iter()
                .map(ToTokens::to_token_stream)
                .collect(),
        );
        braces.set_span(span.resolved_at(Span::call_site()));
        braces
    };
    let body = if function.sig.asyncness.is_some() {
        // Guard each poll of the body, not the thread across `.await`s.
        // An async block does not see the function's return type, so name
        // it for the body's tail (as the function would), where it can be.
        let tail = match nameable_return_type(&function.sig.output) {
            Some(ty) => {
                let ret = Ident::new("__alloc_guard_return", Span::mixed_site());
                quote! {
                    let #ret: #ty = #block;
                    #ret
                }
            }
            None => block.to_token_stream(),
        };
        // The by-value arguments are moved into the guarded block (and
        // dropped when it completes, in its last poll), used or not;
        // `self` is captured whole by being borrowed whole.
        let self_capture = moves.self_by_value.map(|s| quote!(let _ = &#s;));
        let statements = &moves.statements;
        let future = quote_spanned! {span=>
            <#krate::NoAllocFuture<_>>::#ctor(
                async move {
                    #self_capture
                    #(#statements)*
                    #tail
                },
                #krate::Policy::#policy,
            )
        };
        quote! {{ #future.await }}
    } else {
        let guard = Ident::new("__alloc_guard_no_alloc", Span::mixed_site());
        let make = quote_spanned! {span=>
            <#krate::NoAllocGuard>::#ctor(#krate::Policy::#policy)
        };
        let statements = &moves.statements;
        match moves.self_by_value {
            // The arguments are moved into locals declared after the guard,
            // so they drop before it, wherever the body ends.
            None => quote! {{
                let #guard = #make;
                #(#statements)*
                #block
            }},
            // `let self = self;` is not Rust: the body runs in a closure
            // that owns all of `self` (borrowing it whole makes a `move`
            // closure capture it whole) and the other arguments, so they
            // drop when it returns, before the guard. The helper makes it
            // an `FnOnce` closure whose return type is the function's.
            Some(self_token) => {
                let call_once = Ident::new("__alloc_guard_call_once", Span::mixed_site());
                quote! {{
                    let #guard = #make;
                    #[inline(always)]
                    fn #call_once<R>(f: impl ::core::ops::FnOnce() -> R) -> R {
                        f()
                    }
                    #call_once(move || {
                        let _ = &#self_token;
                        #(#statements)*
                        #block
                    })
                }}
            }
        }
    };
    function.block = match syn::parse2(body) {
        Ok(block) => Box::new(block),
        Err(e) => return with_item(e, item),
    };
    function.into_token_stream()
}

/// How the by-value arguments are moved into the guarded scope.
struct Moves {
    /// `let x = x;`, `let __alloc_guard_arg1 = __alloc_guard_arg1;
    /// let (a, b) = __alloc_guard_arg1;`, … in argument order, so they
    /// drop in the reverse order, as arguments do.
    statements: Vec<TokenStream2>,
    /// The `self` of a receiver taken by value (`self`, `mut self`,
    /// `self: Box<Self>`, …).
    self_by_value: Option<Ident>,
}

/// Rewrites the signature's by-value arguments so each can be moved into
/// the guarded scope, and returns the statements that move them there.
fn by_value_arguments(sig: &mut syn::Signature) -> Moves {
    let mut moves = Moves {
        statements: Vec::new(),
        self_by_value: None,
    };
    for (i, arg) in sig.inputs.iter_mut().enumerate() {
        let arg = match arg {
            syn::FnArg::Receiver(r) => {
                if r.reference.is_none() && !owns_nothing(&r.ty) {
                    moves.self_by_value = Some(Ident::new("self", r.self_token.span));
                }
                continue;
            }
            syn::FnArg::Typed(arg) if !owns_nothing(&arg.ty) => arg,
            syn::FnArg::Typed(_) => continue,
        };
        // The statements carry the argument's attributes (a `#[cfg]`
        // removes both; a lint attribute goes where the binding now is);
        // the argument keeps only its `cfg`s.
        let all = std::mem::take(&mut arg.attrs);
        let attrs = quote!(#(#all)*);
        arg.attrs = all
            .into_iter()
            .filter(|a| a.path().is_ident("cfg") || a.path().is_ident("cfg_attr"))
            .collect();
        match &mut *arg.pat {
            // `x`, `mut x`: keep the name (rustdoc shows it), move it in.
            syn::Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                let mutability = p.mutability.take();
                let x = &p.ident;
                moves
                    .statements
                    .push(quote!(#attrs let #mutability #x = #x;));
            }
            pat => {
                // `_` (which would drop at the end of the call), a
                // destructuring or `ref` pattern (whose unbound rest would):
                // name the whole argument and bind the pattern inside.
                let name = Ident::new(&format!("__alloc_guard_arg{i}"), Span::mixed_site());
                let original = std::mem::replace(
                    pat,
                    syn::Pat::Ident(syn::PatIdent {
                        attrs: Vec::new(),
                        by_ref: None,
                        mutability: None,
                        ident: name.clone(),
                        subpat: None,
                    }),
                );
                moves.statements.push(quote!(#attrs let #name = #name;));
                if !matches!(original, syn::Pat::Wild(_)) {
                    moves.statements.push(quote!(#attrs let #original = #name;));
                }
            }
        }
    }
    moves
}

/// Whether an argument of this type owns nothing to drop, by its syntax: a
/// reference, or a pinned reference (`Pin<&mut Self>`).
fn owns_nothing(ty: &syn::Type) -> bool {
    fn is_reference(ty: &syn::Type) -> bool {
        match ty {
            syn::Type::Reference(_) => true,
            syn::Type::Paren(p) => is_reference(&p.elem),
            syn::Type::Group(g) => is_reference(&g.elem),
            _ => false,
        }
    }
    match ty {
        syn::Type::Paren(p) => owns_nothing(&p.elem),
        syn::Type::Group(g) => owns_nothing(&g.elem),
        syn::Type::Path(p) if p.qself.is_none() => {
            let Some(last) = p.path.segments.last() else {
                return false;
            };
            let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
                return false;
            };
            last.ident == "Pin"
                && args.args.len() == 1
                && matches!(&args.args[0], syn::GenericArgument::Type(t) if is_reference(t))
        }
        ty => is_reference(ty),
    }
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

    /// The policy, `allow_frees` and the `crate` path (as text).
    type Parsed = (&'static str, bool, Option<String>);

    fn args(tokens: TokenStream2) -> Result<Parsed, String> {
        Args::parse(tokens)
            .map(|a| {
                let krate = a.krate.map(|p| p.to_token_stream().to_string());
                (a.policy, a.allow_frees, krate)
            })
            .map_err(|e| e.to_string())
    }

    fn expanded(attr: TokenStream2, item: TokenStream2) -> String {
        expand(attr, item).to_string()
    }

    #[test]
    fn argument_forms() {
        let a = |policy, allow_frees| Ok((policy, allow_frees, None));
        assert_eq!(args(quote!()), a("Panic", false));
        assert_eq!(args(quote!(panic)), a("Panic", false));
        assert_eq!(args(quote!(abort)), a("Abort", false));
        assert_eq!(args(quote!(log)), a("LogBacktrace", false));
        assert_eq!(args(quote!(allow_frees)), a("Panic", true));
        assert_eq!(args(quote!(log, allow_frees)), a("LogBacktrace", true));
        assert_eq!(args(quote!(allow_frees, abort,)), a("Abort", true));
    }

    #[test]
    fn crate_path_forms_in_any_order() {
        let a = |policy, allow_frees, path: &str| Ok((policy, allow_frees, Some(path.to_owned())));
        assert_eq!(args(quote!(crate = ag)), a("Panic", false, "ag"));
        assert_eq!(args(quote!(crate = ::ag)), a("Panic", false, ":: ag"));
        assert_eq!(
            args(quote!(crate = some::reexport::path)),
            a("Panic", false, "some :: reexport :: path")
        );
        assert_eq!(
            args(quote!(crate = crate::renamed)),
            a("Panic", false, "crate :: renamed")
        );
        assert_eq!(
            args(quote!(log, allow_frees, crate = ag)),
            a("LogBacktrace", true, "ag")
        );
        assert_eq!(
            args(quote!(crate = ::ag, abort)),
            a("Abort", false, ":: ag")
        );
        assert_eq!(
            args(quote!(allow_frees, crate = super::ag, panic,)),
            a("Panic", true, "super :: ag")
        );
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
            (quote!(crate = ag, crate = ag), "`crate` is given twice"),
            (
                quote!(crate = ag, log, crate = ::ag),
                "`crate` is given twice",
            ),
            (
                quote!(crate = "ag"),
                "`crate` takes a path, not a string: write `crate = ag`",
            ),
            (quote!(crate = 1), "`crate = 1` is not a path"),
            (
                quote!(crate = ag::<u8>),
                "`crate = ag :: < u8 >` is not a path",
            ),
            (quote!(crate = <T>::ag), "is not a path"),
            (quote!(crate = a + b), "`crate = a + b` is not a path"),
            (quote!(crate), "`crate` needs the path alloc_guard is at"),
            (
                quote!(crate(ag)),
                "`crate` needs the path alloc_guard is at",
            ),
            (quote!(crate =), "#[no_alloc]: "),
        ] {
            let e = args(tokens).unwrap_err();
            assert!(e.contains(says), "{e}");
            if !says.contains("`allow_frees` is given twice") {
                assert!(e.contains("`abort` or `log`"), "{e}");
                assert!(e.contains("`crate = path`"), "{e}");
                assert!(e.contains("`crate = ::ag`"), "{e}");
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
                "let __alloc_guard_no_alloc = < :: alloc_guard :: NoAllocGuard > :: allowing_frees \
                 (:: alloc_guard :: Policy :: LogBacktrace) ; let x = x ; { x }"
            ),
            "{out}"
        );
    }

    #[test]
    fn crate_path_is_named_everywhere() {
        for item in [
            quote!(
                fn f(x: Box<u8>) {}
            ),
            quote!(
                fn f(self, x: Box<u8>) {}
            ),
            quote!(
                async fn f(x: Box<u8>) -> u8 {
                    1
                }
            ),
        ] {
            let out = expanded(quote!(abort, crate = ::ag::inner), item);
            assert!(!out.contains("alloc_guard ::"), "{out}");
            assert!(out.contains("< :: ag :: inner :: NoAlloc"), "{out}");
            assert!(out.contains(":: ag :: inner :: Policy :: Abort"), "{out}");
        }
    }

    #[test]
    fn by_value_arguments_are_moved_in_after_the_guard() {
        let out = expanded(
            quote!(),
            quote!(
                fn f<T>(
                    a: T,
                    mut b: Vec<u8>,
                    _: Box<u8>,
                    (c, _): (u8, Box<u8>),
                    #[cfg(unix)] d: String,
                    #[allow(unused)] e: Box<u8>,
                    r: &mut [u8],
                    p: Pin<&mut u8>,
                    &f: &u8,
                    _: &u8,
                ) where
                    T: Copy,
                {
                    body()
                }
            ),
        );
        assert!(
            out.starts_with(
                "fn f < T > (a : T , b : Vec < u8 > , __alloc_guard_arg2 : Box < u8 > , \
                 __alloc_guard_arg3 : (u8 , Box < u8 >) , # [cfg (unix)] d : String , \
                 e : Box < u8 > , r : & mut [u8] , p : Pin < & mut u8 > , & f : & u8 , \
                 _ : & u8 ,) where T : Copy"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "(:: alloc_guard :: Policy :: Panic) ; \
                 let a = a ; \
                 let mut b = b ; \
                 let __alloc_guard_arg2 = __alloc_guard_arg2 ; \
                 let __alloc_guard_arg3 = __alloc_guard_arg3 ; \
                 let (c , _) = __alloc_guard_arg3 ; \
                 # [cfg (unix)] let d = d ; \
                 # [allow (unused)] let e = e ; \
                 { body () }"
            ),
            "{out}"
        );
    }

    #[test]
    fn self_by_value_moves_the_body_into_a_closure() {
        for receiver in [quote!(self), quote!(mut self), quote!(self: Box<Self>)] {
            let out = expanded(
                quote!(),
                quote!(
                    fn f(#receiver, x: Box<u8>, y: &u8) -> u8 {
                        self.0
                    }
                ),
            );
            assert!(
                out.contains(
                    "(:: alloc_guard :: Policy :: Panic) ; \
                     # [inline (always)] fn __alloc_guard_call_once < R > \
                     (f : impl :: core :: ops :: FnOnce () -> R) -> R { f () } \
                     __alloc_guard_call_once (move | | { let _ = & self ; let x = x ; { self . 0 } }) }"
                ),
                "{out}"
            );
        }
        for receiver in [
            quote!(&self),
            quote!(&mut self),
            quote!(self: &Self),
            quote!(self: Pin<&mut Self>),
        ] {
            let out = expanded(quote!(), quote!(fn f(#receiver, x: u8) { x; }));
            assert!(!out.contains("move"), "{out}");
            assert!(
                out.contains("(:: alloc_guard :: Policy :: Panic) ; let x = x ; { x ; } }"),
                "{out}"
            );
        }
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
                "< :: alloc_guard :: NoAllocFuture < _ > > :: new (async move { \
                 let __alloc_guard_return : u8 = { self . 0 } ; __alloc_guard_return } , \
                 :: alloc_guard :: Policy :: Panic ,) . await"
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
            assert!(out.contains("(async move { { loop { } } } ,"), "{out}");
        }
    }

    #[test]
    fn async_fn_moves_every_by_value_argument_into_the_future() {
        let out = expanded(
            quote!(allow_frees),
            quote!(
                async fn f(self, mut a: Box<u8>, _: Box<u8>, (b, _): (u8, Box<u8>), r: &u8) {
                    a;
                }
            ),
        );
        assert!(
            out.starts_with(
                "async fn f (self , a : Box < u8 > , __alloc_guard_arg2 : Box < u8 > , \
                 __alloc_guard_arg3 : (u8 , Box < u8 >) , r : & u8)"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                ":: allowing_frees (async move { \
                 let _ = & self ; \
                 let mut a = a ; \
                 let __alloc_guard_arg2 = __alloc_guard_arg2 ; \
                 let __alloc_guard_arg3 = __alloc_guard_arg3 ; \
                 let (b , _) = __alloc_guard_arg3 ; \
                 { a ; } } ,"
            ),
            "{out}"
        );
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
