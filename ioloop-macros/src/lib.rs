//! Procedural macros for [`ioloop`](https://docs.rs/ioloop): `#[ioloop::coroutine]` and
//! `#[ioloop::test]`.
//!
//! Users do not depend on this crate directly: `ioloop` re-exports the attribute, and its
//! documentation (on `ioloop::coroutine`) is the reference.

mod check;
mod rewrite;
mod test_attr;

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

/// The phases, as in thiserror: parse the item, check the attribute and the signature
/// (every validation), then rewrite the function into a coroutine, or, when the
/// signature rules that out, emit the fallback stub that keeps callers' types right.
fn expand(attr: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let function = match check::parse_function(item.clone()) {
        Ok(function) => function,
        Err(error) => {
            // Not a function: report, and keep the item as it was so nothing else breaks.
            let error = error.to_compile_error();
            let others =
                (!attr.is_empty()).then(|| check::attribute_arguments(&attr).to_compile_error());
            return quote!(#error #others #item);
        }
    };
    let checked = check::check(&attr, function);
    let mut errors = checked.reported;
    let output = if checked.fatal.is_empty() {
        rewrite::coroutine(checked.function, checked.output, &mut errors)
    } else {
        errors.extend(checked.fatal);
        rewrite::stub(checked.function, checked.output)
    };
    let errors = errors.iter().map(syn::Error::to_compile_error);
    quote!(#(#errors)* #output)
}

/// Tornado's `gen_test`: a `#[test]` that runs its body on a fresh `IOLoop`, with a
/// timeout, and closes the loop afterwards.
///
/// The body is a coroutine (`fn name() -> Result<()>`, waiting with `yield_!`, as
/// `#[ioloop::coroutine]` takes) or an `async fn name() -> Result<()>` (waiting with
/// `.await`). The test fails with the body's error, or, when the body has not finished
/// after the timeout, with a message naming the test and the timeout. The timeout is
/// `#[ioloop::test(timeout = SECONDS)]` (an integer or a decimal), else the
/// `ASYNC_TEST_TIMEOUT` environment variable (seconds), else 5 s, as in Tornado; see
/// `ioloop::testing`. Other attributes (`#[should_panic]`, `#[ignore]`) go on as usual.
/// A misuse (arguments, a bad option) is a compile error that says what to write.
///
/// ```
/// use ioloop::prelude::*;
///
/// #[ioloop::test]
/// fn a_coroutine_test() -> Result<()> {
///     assert_eq!(yield_!(Future::ready(4))?, 4);
///     Ok(())
/// }
///
/// #[ioloop::test(timeout = 10)]
/// async fn an_async_test() -> Result<()> {
///     ioloop::gen::sleep(Duration::from_millis(1)).await?;
///     Ok(())
/// }
/// # // `#[test]` functions are compiled out of a doctest; this is what they run.
/// # ioloop::testing::run_test("an_async_test", None, || ioloop::gen::sleep(Duration::ZERO));
/// ```
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    test_attr::expand(attr.into(), item.into()).into()
}
