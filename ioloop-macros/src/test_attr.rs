//! `#[ioloop::test]`, Tornado's `gen_test`: the same phases as `#[coroutine]` (parse,
//! check, rewrite or fallback). The body is kept as the user wrote it, as a function
//! nested in the `#[test]` one: a coroutine body goes through `#[ioloop::coroutine]`
//! itself, an `async fn` stays one, and `ioloop::testing::run_test` runs either on a
//! fresh loop with the timeout.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ItemFn, Lit, Meta, ReturnType, Token};

const USAGE: &str = "write `#[ioloop::test]`, or `#[ioloop::test(timeout = 10)]` for a \
    timeout in seconds";

/// The whole expansion of `#[ioloop::test(attr)] item`.
pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let options = options(attr);
    let function = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let error = syn::Error::new_spanned(
                head(&item),
                "#[ioloop::test] goes on a test function: write \
                 `#[ioloop::test] fn name() -> Result<()> { ... }`",
            );
            let errors = options.err().map(|e| e.to_compile_error());
            let error = error.to_compile_error();
            return quote!(#error #errors #item);
        }
    };
    let mut errors: Vec<syn::Error> = options.as_ref().err().cloned().into_iter().collect();
    let signature = check_signature(&function);
    let fatal = !signature.is_empty();
    errors.extend(signature);
    let errors: Vec<TokenStream> = errors.iter().map(syn::Error::to_compile_error).collect();
    if fatal {
        let fallback = fallback(function);
        return quote!(#(#errors)* #fallback);
    }
    // A bad option was reported; the test still runs, with the default timeout, so the
    // option's error is the only one.
    let timeout = options.ok().flatten();
    let test = rewrite(function, timeout);
    quote!(#(#errors)* #test)
}

/// The first tokens of a non-function item, to underline (not a whole struct's body).
fn head(item: &TokenStream) -> TokenStream {
    item.clone().into_iter().take(2).collect()
}

/// The timeout in the attribute's arguments, as an expression of type
/// `Option<Duration>` (`None`: none given).
fn options(attr: TokenStream) -> syn::Result<Option<TokenStream>> {
    if attr.is_empty() {
        return Ok(None);
    }
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated
        .parse2(attr.clone())
        .map_err(|_| {
            syn::Error::new_spanned(
                &attr,
                format!("#[ioloop::test] takes only `timeout = SECONDS`: {USAGE}"),
            )
        })?;
    let mut timeout = None;
    for meta in metas {
        if !meta.path().is_ident("timeout") {
            let name = meta.path().to_token_stream().to_string().replace(' ', "");
            return Err(syn::Error::new_spanned(
                meta.path(),
                format!(
                    "unknown option `{name}`: #[ioloop::test] takes only \
                     `timeout = SECONDS`; {USAGE}"
                ),
            ));
        }
        let Meta::NameValue(option) = meta else {
            return Err(syn::Error::new_spanned(
                meta,
                "`timeout` is a number of seconds: write `timeout = 10`",
            ));
        };
        if timeout.is_some() {
            return Err(syn::Error::new_spanned(
                option,
                "`timeout` is given twice: keep one `timeout = SECONDS`",
            ));
        }
        timeout = Some(seconds(&option.value)?);
    }
    Ok(timeout)
}

/// `value` as a `Duration`: a positive integer or decimal literal of seconds.
fn seconds(value: &Expr) -> syn::Result<TokenStream> {
    let bad = || {
        syn::Error::new_spanned(
            value,
            "`timeout` is a positive number of seconds, written as a literal: write \
             `timeout = 10` (or `timeout = 0.5`)",
        )
    };
    let Expr::Lit(literal) = value else {
        return Err(bad());
    };
    let span = literal.span();
    match &literal.lit {
        Lit::Int(int) if int.suffix().is_empty() || int.suffix() == "u64" => {
            let seconds: u64 = int.base10_parse().map_err(|_| bad())?;
            if seconds == 0 {
                return Err(bad());
            }
            Ok(quote_spanned!(span=> ::core::time::Duration::from_secs(#seconds)))
        }
        Lit::Float(float) if float.suffix().is_empty() || float.suffix() == "f64" => {
            let seconds: f64 = float.base10_parse().map_err(|_| bad())?;
            if !(seconds.is_finite() && seconds > 0.0 && seconds < u64::MAX as f64) {
                return Err(bad());
            }
            Ok(quote_spanned!(span=> ::core::time::Duration::from_secs_f64(#seconds)))
        }
        _ => Err(bad()),
    }
}

/// What rules the function out as a test: arguments, generics, no return type.
fn check_signature(function: &ItemFn) -> Vec<syn::Error> {
    let sig = &function.sig;
    let mut errors = Vec::new();
    if !sig.inputs.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.inputs,
            "a test takes no arguments (the test runner passes none): remove them, and \
             make what the test needs in its body",
        ));
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "a test cannot be generic (the test runner cannot choose the types): remove \
             the parameters, and name concrete types in the body",
        ));
    }
    if matches!(sig.output, ReturnType::Default) {
        errors.push(syn::Error::new_spanned(
            &sig.ident,
            "a test under #[ioloop::test] returns `Result<()>`, so `?` and `yield_!(...)?` \
             work in it: add `-> Result<()>` and end the body with `Ok(())`",
        ));
    }
    errors
}

/// The body as the nested function the test runs: a coroutine, or the `async fn`.
fn body(mut function: ItemFn) -> TokenStream {
    function.attrs.clear();
    function.vis = syn::Visibility::Inherited;
    if function.sig.asyncness.is_some() {
        quote!(#function)
    } else {
        quote!(#[::ioloop::coroutine] #function)
    }
}

/// The function cannot be a test: keep its body, compiled as written (so its own
/// mistakes are still reported) but not run, and the error above is the only one.
fn fallback(function: ItemFn) -> TokenStream {
    if matches!(function.sig.output, ReturnType::Default) {
        // Neither form of body compiles without a `Result`.
        return TokenStream::new();
    }
    let body = body(function);
    quote!(#[allow(dead_code)] #body)
}

/// The `#[test]` function running the body on a fresh loop.
fn rewrite(function: ItemFn, timeout: Option<TokenStream>) -> TokenStream {
    let attrs = &function.attrs;
    let vis = &function.vis;
    let name = &function.sig.ident;
    let span = function.sig.span();
    let timeout = match timeout {
        Some(timeout) => quote!(::core::option::Option::Some(#timeout)),
        None => quote!(::core::option::Option::None),
    };
    let start = if function.sig.asyncness.is_some() {
        quote!(|| ::ioloop::testing::__spawn(#name()))
    } else {
        quote!(#name)
    };
    let body = body(function.clone());
    quote_spanned! {span=>
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #name() {
            #body
            ::ioloop::testing::run_test(::core::stringify!(#name), #timeout, #start);
        }
    }
}
