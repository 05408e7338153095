//! Procedural macros for [`ioloop`](https://docs.rs/ioloop): `#[ioloop::coroutine]`.
//!
//! Users do not depend on this crate directly: `ioloop` re-exports the attribute, and its
//! documentation (on `ioloop::coroutine`) is the reference.

mod check;
mod rewrite;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;

/// Turns `fn f(args) -> Result<T>` into `fn f(args) -> ioloop::Future<T>` whose body
/// runs as a coroutine on the loop, suspending at each `yield_!(x)`.
///
/// Write it as `#[ioloop::coroutine]` (stable Rust reserves the bare `#[coroutine]`).
/// Calling the function runs the body at once up to its first suspension, as Tornado
/// does. See the `ioloop` crate for the whole story; a misuse is a compile error that
/// points at your code and says what to write instead.
///
/// ```
/// use ioloop::prelude::*;
///
/// #[ioloop::coroutine]
/// fn twice(f: Future<i32>) -> Result<i32> {
///     Ok(yield_!(f)? * 2)
/// }
///
/// assert_eq!(twice(Future::ready(4)).result().unwrap(), 8);
/// ```
#[proc_macro_attribute]
pub fn coroutine(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr.into(), item.into()).into()
}

fn expand(attr: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let mut errors = Vec::new();
    if !attr.is_empty() {
        errors.push(syn::Error::new_spanned(
            &attr,
            "#[ioloop::coroutine] takes no arguments: write `#[ioloop::coroutine]`",
        ));
    }
    let function = match check::parse_function(item.clone()) {
        Ok(function) => function,
        Err(error) => {
            // Not a function: report, and keep the item as it was so nothing else breaks.
            let error = error.to_compile_error();
            let others = errors.iter().map(syn::Error::to_compile_error);
            return quote!(#error #(#others)* #item);
        }
    };
    let output = rewrite::function(function, &mut errors);
    let errors = errors.iter().map(syn::Error::to_compile_error);
    quote!(#(#errors)* #output)
}
