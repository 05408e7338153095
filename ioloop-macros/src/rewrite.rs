//! Rewriting a checked function into a coroutine: the signature returns
//! `ioloop::Future<T>`, the body becomes an `async` block driven by the runner, and each
//! `yield_!(x)` becomes a suspension point.
//!
//! Misuses found in the body (`.await`, `yield_!` inside a closure or a nested `async`
//! block) are reported, and the offending expression is replaced by a placeholder of the
//! right type, so the rest of the function still type-checks and one mistake gives one
//! error.

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Expr, ItemFn, Stmt, Token};

/// The identifier of the runner handle inside the generated body. Mixed-site hygiene
/// keeps it out of reach of (and from clashing with) the user's names.
fn co_ident() -> Ident {
    Ident::new("__ioloop_co", Span::mixed_site())
}

/// The label of the block a `yield_!` leaves early when its future is done already.
/// Mixed-site hygiene keeps it apart from the user's labels (the user's value is
/// evaluated outside the block anyway).
fn ready_label() -> syn::Lifetime {
    syn::Lifetime::new("'__ioloop_ready", Span::mixed_site())
}

/// The signature cannot be turned into a coroutine's: keep it as written, but returning
/// the `ioloop::Future<T>` its callers expect, with a body that type-checks, so the error
/// above is the only one (a caller is not told a second time that the types differ).
pub fn stub(mut function: ItemFn, output: syn::Type) -> TokenStream {
    function.sig.output = syn::parse_quote!(-> ::ioloop::Future<#output>);
    function.block = syn::parse_quote!({ ::core::unimplemented!() });
    function
        .attrs
        .push(syn::parse_quote!(#[allow(unused_variables, unused_mut)]));
    quote!(#function)
}

/// The checked function as a coroutine; misuses found in the body join `errors`.
pub fn coroutine(
    mut function: ItemFn,
    output: syn::Type,
    errors: &mut Vec<syn::Error>,
) -> TokenStream {
    let co = co_ident();
    let mut body = (*function.block).clone();
    let mut rewriter = Rewriter {
        co: co.clone(),
        depth: Nesting::Body,
        errors,
        scouting: false,
    };
    rewriter.visit_block_mut(&mut body);

    let syn::ReturnType::Type(_, declared) = function.sig.output.clone() else {
        unreachable!("checked by check::check");
    };
    // The conversion into `ioloop::Error` names the declared error type, so one that
    // does not convert is reported there, once, instead of on the body and the runner's
    // bounds. The compiler blames the trait's type argument only when the path around
    // it covers it: so the path is spanned over the type, which keeps its own spans.
    // Behind an alias, which hides the error type, the argument is inferred and all of
    // it is spanned on the alias's name. A closure rather than the `from` function
    // itself: a closure is `Fn` whatever its body, so the runner's bound on it cannot
    // fail a second time.
    let (error, (first, last)) = match error_type(&declared) {
        Some(error) => (quote!(#error), ends(error)),
        None => {
            let name = alias_name(&declared);
            (quote_spanned!(name=> _), (name, name))
        }
    };
    let open = spanned_over(
        quote!(<::ioloop::Error as ::core::convert::From<),
        first,
        last,
    );
    let arg = Ident::new("error", last);
    // Spanned on the user's code, so clippy would lint the closure there as if they had
    // written it (redundant closure, `From` of the same type): allowed at the source.
    let into_error = quote_spanned!(last=> {
        #[allow(clippy::redundant_closure, clippy::useless_conversion)]
        let into_error = |#arg| #open #error>>::from(#arg);
        into_error
    });
    require_static(&mut function);
    function.sig.output = syn::parse_quote!(-> ::ioloop::Future<#output>);
    let stmts = &body.stmts;
    function.block = syn::parse_quote_spanned!(function.block.span()=> {
        ::ioloop::__private::coroutine(
            move |#co: ::ioloop::__private::Co| {
                ::ioloop::__private::body::<#declared, _>(async move { #(#stmts)* })
            },
            #into_error,
        )
    });
    quote!(#function)
}

/// The `E` of a declared `Result<T, E>`.
fn error_type(declared: &syn::Type) -> Option<&syn::Type> {
    let syn::Type::Path(path) = declared else {
        return None;
    };
    match &path.path.segments.last()?.arguments {
        syn::PathArguments::AngleBracketed(args) => match args.args.iter().nth(1)? {
            syn::GenericArgument::Type(error) => Some(error),
            _ => None,
        },
        _ => None,
    }
}

/// The span of the name in a return type like `io::Result<T>`.
fn alias_name(declared: &syn::Type) -> Span {
    match declared {
        syn::Type::Path(path) => path.path.segments.last().map(|s| s.ident.span()),
        _ => None,
    }
    .unwrap_or_else(|| declared.span())
}

/// The spans of the first and last tokens of `tokens`.
fn ends(tokens: &impl ToTokens) -> (Span, Span) {
    let mut tokens = tokens.to_token_stream().into_iter();
    let first = tokens.next().map_or_else(Span::call_site, |tt| tt.span());
    let last = tokens.last().map_or(first, |tt| tt.span());
    (first, last)
}

/// `tokens` (with no groups) respanned so that, as one expression, they cover the source
/// from `first` to `last`: the first token takes `first`, the rest `last`. (A span cannot
/// be joined on stable; the compiler joins the expression's ends itself.)
fn spanned_over(tokens: TokenStream, first: Span, last: Span) -> TokenStream {
    let spans = std::iter::once(first).chain(std::iter::repeat(last));
    tokens
        .into_iter()
        .zip(spans)
        .map(|(mut tt, span)| {
            tt.set_span(span);
            tt
        })
        .collect()
}

/// Adds `'static` to every type parameter and `impl Trait` argument: the body outlives
/// the call, so it must own what it captures. Writing the bound here gives the user a
/// clear error at the call site rather than one inside generated code; each bound is
/// spanned on the parameter it constrains, which the error then names as the
/// requirement, instead of the attribute.
fn require_static(function: &mut ItemFn) {
    fn static_bound(span: Span) -> syn::TypeParamBound {
        syn::TypeParamBound::Lifetime(syn::Lifetime::new("'static", span))
    }
    let generics = &mut function.sig.generics;
    // Bound each parameter where the user already bounds it (inline or in the `where`
    // clause), so the expansion does not split bounds across both places.
    let mut in_where = Vec::new();
    if let Some(clause) = &mut generics.where_clause {
        for predicate in &mut clause.predicates {
            if let syn::WherePredicate::Type(p) = predicate {
                if let syn::Type::Path(path) = &p.bounded_ty {
                    if let Some(ident) = path.path.get_ident() {
                        in_where.push(ident.clone());
                        p.bounds.push(static_bound(ident.span()));
                    }
                }
            }
        }
    }
    for param in generics.type_params_mut() {
        if !in_where.contains(&param.ident) {
            param.bounds.push(static_bound(param.ident.span()));
        }
    }
    for input in &mut function.sig.inputs {
        if let syn::FnArg::Typed(arg) = input {
            if let syn::Type::ImplTrait(it) = &mut *arg.ty {
                it.bounds.push(static_bound(it.impl_token.span));
            }
        }
    }
}

const AWAIT: &str = "`.await` cannot be used in a coroutine: write `yield_!(future)` to wait \
     (only the coroutine's runner may suspend its body)";
const AWAIT_IN_CLOSURE: &str = "`.await` cannot be used in a closure inside a coroutine: wait \
     in the coroutine's own body with `yield_!(future)`, in a `for` loop instead of an \
     iterator adapter";
const YIELD_IN_CLOSURE: &str = "`yield_!` cannot be used inside a closure: it suspends the \
     coroutine, and a closure runs on its own; write a `for` loop in the coroutine's body \
     instead of an iterator adapter, or make the closure's work a coroutine and yield its \
     future";
const YIELD_IN_ASYNC: &str = "`yield_!` cannot be used inside an `async` block: write \
     `.await` there, or move the code into the coroutine's own body";
const YIELD_NOTHING: &str = "`yield_!` needs a value to wait for: to let other callbacks run \
     for one loop turn, write `yield_!(ioloop::gen::moment())`";
const YIELD_SEVERAL: &str = "`yield_!` waits for one value: to wait for several at once, \
     yield a tuple `yield_!((a, b))` or a `vec![...]` of futures";

#[derive(Clone, Copy, PartialEq)]
enum Nesting {
    /// Directly in the coroutine's body: `yield_!` is allowed, `.await` is not.
    Body,
    /// Inside a closure: neither suspends the coroutine.
    Closure,
    /// Inside a nested `async` block: `.await` is fine there, `yield_!` is not.
    Async,
}

struct Rewriter<'a> {
    co: Ident,
    depth: Nesting,
    errors: &'a mut Vec<syn::Error>,
    /// Scouting another macro's arguments for `.await`: its `yield_!`s are rewritten
    /// (and reported) from its tokens, so here they are not reported a second time.
    scouting: bool,
}

fn is_yield(mac: &syn::Macro) -> bool {
    mac.path
        .segments
        .last()
        .is_some_and(|s| s.ident == "yield_")
}

impl Rewriter<'_> {
    fn nested(&mut self, depth: Nesting, f: impl FnOnce(&mut Self)) {
        let saved = std::mem::replace(&mut self.depth, depth);
        f(self);
        self.depth = saved;
    }

    /// The expression `yield_!(tokens)` becomes here; `invocation` is the whole macro
    /// call, which errors underline, and `span` that of its parentheses.
    fn yield_expr(&mut self, invocation: TokenStream, tokens: TokenStream, span: Span) -> Expr {
        let tokens = self.rewrite_tokens(tokens);
        let value = match Punctuated::<Expr, Token![,]>::parse_terminated.parse2(tokens.clone()) {
            Ok(values) if values.is_empty() => {
                self.report_yield(&invocation, YIELD_NOTHING);
                // What the error suggests, so the rest of the body still type-checks.
                quote_spanned!(span=> ::ioloop::gen::moment())
            }
            // Several values: waiting on their tuple is what was meant, and keeps the
            // types of the rest of the body right.
            Ok(values) if values.len() > 1 => {
                self.report_yield(&invocation, YIELD_SEVERAL);
                quote_spanned!(span=> (#tokens))
            }
            // One value, or tokens that are not expressions, which the compiler reports.
            _ => tokens,
        };
        let co = &self.co;
        let expansion = match self.depth {
            Nesting::Body => {
                // Spanned on the user's `yield_!(...)`, so type errors and lints about the
                // value (an unused `Result`) point there.
                // A future done already gives its result without `suspend`'s future.
                // `ready_now`'s answer is taken apart in a statement of its own, ended
                // before the `.await`: a `match` on it around the `.await` would keep
                // the whole `Result<Result<T>, Yielded<T>>` (partly moved, so still to
                // be dropped) in every suspended coroutine, 24 bytes for a `u64`.
                let ready = ready_label();
                quote_spanned!(span=> ({
                    let yielded = ::ioloop::__private::yielded(#value);
                    #ready: {
                        let yielded = match ::ioloop::__private::ready_now(yielded) {
                            ::core::result::Result::Ok(done) => break #ready done,
                            ::core::result::Result::Err(yielded) => yielded,
                        };
                        ::ioloop::__private::suspend(&#co, yielded).await
                    }
                }))
            }
            Nesting::Closure | Nesting::Async => {
                let message = if self.depth == Nesting::Closure {
                    YIELD_IN_CLOSURE
                } else {
                    YIELD_IN_ASYNC
                };
                self.report_yield(&invocation, message);
                quote_spanned!(span=> ::ioloop::__private::misplaced_yield(#value))
            }
        };
        syn::parse2(expansion).expect("the yield_! expansion is an expression")
    }

    /// Reports a misused `yield_!`, unless scouting (see [`Rewriter::scouting`]).
    fn report_yield(&mut self, invocation: &TokenStream, message: &str) {
        if !self.scouting {
            self.errors
                .push(syn::Error::new_spanned(invocation, message));
        }
    }

    /// Rewrites `yield_!(...)` found in raw tokens (the arguments of other macros,
    /// like `println!` or `assert_eq!`).
    fn rewrite_tokens(&mut self, tokens: TokenStream) -> TokenStream {
        let mut out: Vec<TokenTree> = Vec::new();
        let mut iter = tokens.into_iter().peekable();
        while let Some(tt) = iter.next() {
            match tt {
                TokenTree::Ident(ident) if ident == "yield_" => {
                    let bang =
                        matches!(iter.peek(), Some(TokenTree::Punct(p)) if p.as_char() == '!');
                    if !bang {
                        out.push(TokenTree::Ident(ident));
                        continue;
                    }
                    let bang = iter.next().expect("peeked");
                    match iter.next() {
                        Some(TokenTree::Group(args)) => {
                            drop_path_prefix(&mut out);
                            let invocation = quote!(#ident #bang #args);
                            let expr = self.yield_expr(invocation, args.stream(), args.span());
                            let mut group = Group::new(Delimiter::Parenthesis, quote!(#expr));
                            group.set_span(args.span());
                            out.push(TokenTree::Group(group));
                        }
                        other => {
                            out.push(TokenTree::Ident(ident));
                            out.push(bang);
                            out.extend(other);
                        }
                    }
                }
                TokenTree::Group(group) => {
                    let mut rewritten =
                        Group::new(group.delimiter(), self.rewrite_tokens(group.stream()));
                    rewritten.set_span(group.span());
                    out.push(TokenTree::Group(rewritten));
                }
                other => out.push(other),
            }
        }
        out.into_iter().collect()
    }

    fn await_error(&mut self, expr: &syn::ExprAwait) -> Expr {
        // In a closure, `yield_!` is no fix either: the wait must move to the body.
        let message = match self.depth {
            Nesting::Closure => AWAIT_IN_CLOSURE,
            _ => AWAIT,
        };
        self.errors
            .push(syn::Error::new_spanned(expr.await_token, message));
        let base = &expr.base;
        syn::parse_quote_spanned!(expr.await_token.span=> ::ioloop::__private::misplaced_await(#base))
    }

    /// Finds misuses inside the arguments of another macro, where they parse as
    /// expressions (`println!`, `assert_eq!`, `vec!`...).
    fn check_macro_args(&mut self, mac: &syn::Macro) {
        let parser = Punctuated::<Expr, Token![,]>::parse_terminated;
        if let Ok(mut args) = parser.parse2(mac.tokens.clone()) {
            let mut scout = Rewriter {
                co: self.co.clone(),
                depth: self.depth,
                errors: self.errors,
                scouting: true,
            };
            for arg in args.iter_mut() {
                scout.visit_expr_mut(arg);
            }
        }
    }
}

/// Removes a `path::to::` prefix written before `yield_!` (as in `ioloop::yield_!(x)`).
fn drop_path_prefix(out: &mut Vec<TokenTree>) {
    loop {
        let n = out.len();
        let colons = n >= 2
            && matches!(&out[n - 1], TokenTree::Punct(p) if p.as_char() == ':')
            && matches!(&out[n - 2], TokenTree::Punct(p) if p.as_char() == ':');
        if !colons {
            return;
        }
        out.truncate(n - 2);
        if matches!(out.last(), Some(TokenTree::Ident(_))) {
            out.pop();
        }
    }
}

impl VisitMut for Rewriter<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Macro(m) if is_yield(&m.mac) => {
                let (invocation, args) = (m.mac.to_token_stream(), m.mac.tokens.clone());
                *expr = self.yield_expr(invocation, args, m.mac.delimiter.span().join());
            }
            Expr::Macro(m) => {
                self.check_macro_args(&m.mac);
                m.mac.tokens = self.rewrite_tokens(m.mac.tokens.clone());
            }
            Expr::Await(a) if self.depth != Nesting::Async => {
                self.visit_expr_mut(&mut a.base);
                let a = a.clone();
                *expr = self.await_error(&a);
            }
            Expr::Closure(c) => {
                let depth = if c.asyncness.is_some() {
                    Nesting::Async
                } else {
                    Nesting::Closure
                };
                self.nested(depth, |me| syn::visit_mut::visit_expr_closure_mut(me, c));
            }
            Expr::Async(a) => {
                self.nested(Nesting::Async, |me| {
                    syn::visit_mut::visit_expr_async_mut(me, a)
                });
            }
            _ => syn::visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
        match stmt {
            Stmt::Macro(m) if is_yield(&m.mac) => {
                let (invocation, args) = (m.mac.to_token_stream(), m.mac.tokens.clone());
                let expr = self.yield_expr(invocation, args, m.mac.delimiter.span().join());
                *stmt = Stmt::Expr(expr, m.semi_token);
            }
            Stmt::Macro(m) => {
                self.check_macro_args(&m.mac);
                m.mac.tokens = self.rewrite_tokens(m.mac.tokens.clone());
            }
            _ => syn::visit_mut::visit_stmt_mut(self, stmt),
        }
    }

    /// Nested items (a `fn` inside the body) are not part of the coroutine.
    fn visit_item_mut(&mut self, _item: &mut syn::Item) {}
}
