//! Checking what `#[coroutine]` was put on: a function with owned arguments returning
//! `Result<T>`. Each misuse becomes an error spanned on the user's tokens that says what
//! to write instead.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::visit::Visit;
use syn::{FnArg, GenericArgument, Item, ItemFn, PathArguments, ReturnType, Type};

/// What checking found: the function to rewrite, and what is wrong with it.
pub struct Checked {
    /// The function, `async` and `const` removed (each reported).
    pub function: ItemFn,
    /// `T` of the declared `Result<T>`, or the best guess at it.
    pub output: Type,
    /// Misuses reported without stopping the rewrite (what caused them was dropped):
    /// arguments to the attribute, `async`, `const`.
    pub reported: Vec<syn::Error>,
    /// Misuses of the signature: no coroutine can be written, so the fallback is.
    pub fatal: Vec<syn::Error>,
}

/// Every check of the attribute and the signature, in the order the errors are shown.
pub fn check(attr: &TokenStream, mut function: ItemFn) -> Checked {
    let mut reported = Vec::new();
    if !attr.is_empty() {
        reported.push(attribute_arguments(attr));
    }
    // `async` and `const` are reported, then dropped, so what is emitted still compiles
    // and the error is the only one.
    if let Some(asyncness) = function.sig.asyncness.take() {
        reported.push(syn::Error::new_spanned(
            asyncness,
            "a coroutine is a plain `fn` (it returns a `Future` by itself): remove `async`, \
             and wait with `yield_!(...)` instead of `.await`",
        ));
    }
    if let Some(constness) = function.sig.constness.take() {
        reported.push(syn::Error::new_spanned(
            constness,
            "a coroutine cannot be a `const fn`: remove `const`",
        ));
    }
    let mut fatal = Vec::new();
    owned_arguments(&function, &mut fatal);
    let output = output_type(&function);
    fatal.extend(output.error);
    Checked {
        function,
        output: output.item,
        reported,
        fatal,
    }
}

/// The error for arguments given to the attribute.
pub fn attribute_arguments(attr: &TokenStream) -> syn::Error {
    syn::Error::new_spanned(
        attr,
        "#[ioloop::coroutine] takes no arguments: write `#[ioloop::coroutine]`",
    )
}

/// Parses the item, which must be a function with a body.
pub fn parse_function(item: TokenStream) -> syn::Result<ItemFn> {
    syn::parse2::<ItemFn>(item.clone()).map_err(|_| not_a_function(item))
}

/// The error for an item that is not a function with a body, naming what it is.
fn not_a_function(item: TokenStream) -> syn::Error {
    if let Ok(declaration) = syn::parse2::<syn::ForeignItemFn>(item.clone()) {
        // A trait method without a default body: the coroutine belongs on each impl.
        return syn::Error::new_spanned(
            &declaration.sig,
            "#[ioloop::coroutine] needs the function's body: declare the trait method as \
             returning `ioloop::Future<T>`, and put #[ioloop::coroutine] on the method in \
             each `impl`, returning `Result<T>`",
        );
    }
    // Underline the keyword and the name, not a whole struct or module.
    fn head(keyword: impl ToTokens, name: impl ToTokens) -> TokenStream {
        quote!(#keyword #name)
    }
    let (what, head) = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Struct(s)) => ("a struct", head(s.struct_token, s.ident)),
        Ok(Item::Enum(e)) => ("an enum", head(e.enum_token, e.ident)),
        Ok(Item::Union(u)) => ("a union", head(u.union_token, u.ident)),
        Ok(Item::Trait(t)) => ("a trait", head(t.trait_token, t.ident)),
        Ok(Item::Impl(i)) => (
            "an `impl` block (put it on each method)",
            head(i.impl_token, i.self_ty),
        ),
        Ok(Item::Mod(m)) => ("a module", head(m.mod_token, m.ident)),
        Ok(Item::Const(c)) => ("a constant", head(c.const_token, c.ident)),
        Ok(Item::Static(s)) => ("a static", head(s.static_token, s.ident)),
        Ok(Item::Type(t)) => ("a type alias", head(t.type_token, t.ident)),
        _ => ("this item", item),
    };
    syn::Error::new_spanned(
        head,
        format!(
            "#[ioloop::coroutine] goes on a function, not on {what}: write it on \
             `fn name(args) -> Result<T> {{ ... }}`"
        ),
    )
}

/// What a `-> Result<T>` function becomes: `T`, the item type of the returned future.
struct Output {
    /// `T`; when the return type is wrong, the best guess at what the user meant, so the
    /// placeholder function still returns the `Future` its callers expect.
    item: Type,
    /// Why the declared return type is not a coroutine's.
    error: Option<syn::Error>,
}

/// The `T` of the declared `-> Result<T>` (or `Result<T, E>`), with an error saying what
/// to write when the return type is something else.
fn output_type(function: &ItemFn) -> Output {
    let ReturnType::Type(_, ty) = &function.sig.output else {
        let error = syn::Error::new_spanned(
            &function.sig.ident,
            "a coroutine must return `Result<T>` (it becomes a function returning \
             `ioloop::Future<T>`): add `-> Result<()>` and end the body with `Ok(())`",
        );
        return Output {
            item: syn::parse_quote!(()),
            error: Some(error),
        };
    };
    let last = match &**ty {
        Type::Path(path) => path.path.segments.last(),
        _ => None,
    };
    let first_argument = last.and_then(|last| match &last.arguments {
        PathArguments::AngleBracketed(args) => match args.args.first() {
            Some(GenericArgument::Type(item)) => Some(item.clone()),
            _ => None,
        },
        _ => None,
    });
    let name = last.map(|last| last.ident.to_string());
    match (name.as_deref(), first_argument) {
        // The expansion names `T` where `impl Trait` is not allowed (a type argument),
        // and the compiler's own error there does not say why.
        (Some("Result" | "Future"), Some(item)) if mentions_impl_trait(&item) => Output {
            item: syn::parse_quote!(()),
            error: Some(syn::Error::new_spanned(&item, IMPL_TRAIT)),
        },
        (Some("Result"), Some(item)) => Output { item, error: None },
        // The type the macro produces, written by hand: say the macro makes it.
        (Some("Future"), Some(item)) => {
            let text = type_text(&item);
            let error = syn::Error::new_spanned(
                ty,
                format!(
                    "a coroutine is written returning `Result<{text}>`, and the macro makes \
                     it return `ioloop::Future<{text}>`: write `-> Result<{text}>`"
                ),
            );
            Output {
                item,
                error: Some(error),
            }
        }
        (Some("Result"), None) => Output {
            item: syn::parse_quote!(()),
            error: Some(syn::Error::new_spanned(
                ty,
                "a coroutine must return `Result<T>`, naming what it produces: write \
                 `-> Result<T>` (for example `-> Result<()>`)",
            )),
        },
        _ if mentions_impl_trait(ty) => Output {
            item: syn::parse_quote!(()),
            error: Some(syn::Error::new_spanned(ty, IMPL_TRAIT)),
        },
        _ => {
            let text = type_text(ty);
            let error = syn::Error::new_spanned(
                ty,
                format!(
                    "a coroutine must return `Result<T>` (it becomes a function returning \
                     `ioloop::Future<T>`): write `-> Result<{text}>` and return `Ok(...)`"
                ),
            );
            // Callers most likely expect a future of what was declared.
            Output {
                item: (**ty).clone(),
                error: Some(error),
            }
        }
    }
}

const IMPL_TRAIT: &str = "a coroutine cannot return `impl Trait`: the macro has to name the \
    type its body produces; write `-> Result<T>` with the concrete type, or with \
    `Box<dyn Trait>` to keep it hidden";

fn mentions_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut finder = Finder(false);
    finder.visit_type(ty);
    finder.0
}

/// Errors for arguments the body could not own: references without `'static`, borrowed
/// `self`, and lifetime parameters.
fn owned_arguments(function: &ItemFn, errors: &mut Vec<syn::Error>) {
    let before = errors.len();
    for input in &function.sig.inputs {
        match input {
            // `&self` and `&mut self`: underline the whole receiver.
            FnArg::Receiver(r) if r.colon_token.is_none() => {
                if r.reference.is_some() {
                    errors.push(syn::Error::new_spanned(r, borrowed_self(r)));
                }
            }
            FnArg::Receiver(r) => {
                if let Some(borrow) = borrowed(&r.ty) {
                    errors.push(syn::Error::new_spanned(borrow, borrowed_self(r)));
                }
            }
            FnArg::Typed(arg) => {
                if let Some(borrow) = borrowed(&arg.ty) {
                    let message = format!(
                        "a coroutine's arguments must be owned: its body runs after the call \
                         returns, so it cannot hold this borrow; {}",
                        owned_alternative(&borrow)
                    );
                    errors.push(syn::Error::new_spanned(borrow, message));
                }
            }
        }
    }
    // A lifetime parameter that a borrowed argument uses is the same mistake, already
    // reported on the argument, where the fix is.
    if errors.len() == before {
        for param in function.sig.generics.lifetimes() {
            errors.push(syn::Error::new_spanned(
                param,
                "a coroutine cannot have lifetime parameters: its body runs after the call \
                 returns, so what it uses must be owned ('static); remove the parameter",
            ));
        }
    }
}

fn borrowed_self(receiver: &syn::Receiver) -> &'static str {
    // syn gives `&mut self` the type `&mut Self`; `receiver.mutability` is the `mut` of
    // a `mut self` binding, so the receiver's type tells the two apart.
    if matches!(&*receiver.ty, Type::Reference(r) if r.mutability.is_some()) {
        "a coroutine cannot borrow `self`: its body runs after the call returns; take `self` \
         by value, or `self: Rc<Self>` with the state it changes in a `Cell` or `RefCell`"
    } else {
        "a coroutine cannot borrow `self`: its body runs after the call returns; take \
         `self: Rc<Self>` (or `self` by value) instead"
    }
}

/// What to write instead of `borrow`, as the end of a sentence.
fn owned_alternative(borrow: &Borrow) -> String {
    let reference = match borrow {
        Borrow::Reference(reference) => reference,
        // A lifetime inside a type, as in `Cow<'a, str>`.
        Borrow::Lifetime(_) => {
            return "write `'static` here, or take a type that owns its data".to_string()
        }
    };
    match &*reference.elem {
        Type::Path(path) if path.path.is_ident("str") => {
            "take `String` (or `&'static str` for string literals) instead".to_string()
        }
        Type::Slice(slice) => format!("take `Vec<{}>` instead", type_text(&slice.elem)),
        _ if reference.mutability.is_some() => format!(
            "take `{}` by value instead (and give it back in the result if the caller \
             needs it)",
            type_text(&reference.elem)
        ),
        elem => {
            let text = type_text(elem);
            format!("take `{text}` by value instead, or `Rc<{text}>` to share it")
        }
    }
}

/// A borrow found in an argument's type.
enum Borrow {
    /// `&T` or `&'a T`.
    Reference(syn::TypeReference),
    /// A lifetime elsewhere, as in `Cow<'a, str>`.
    Lifetime(syn::Lifetime),
}

impl ToTokens for Borrow {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Borrow::Reference(reference) => reference.to_tokens(tokens),
            Borrow::Lifetime(lifetime) => lifetime.to_tokens(tokens),
        }
    }
}

/// The first borrow in `ty` that is not `'static`, if any.
fn borrowed(ty: &Type) -> Option<Borrow> {
    struct Finder(Option<Borrow>);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_reference(&mut self, r: &'ast syn::TypeReference) {
            let is_static = r.lifetime.as_ref().is_some_and(|l| l.ident == "static");
            if !is_static && self.0.is_none() {
                self.0 = Some(Borrow::Reference(r.clone()));
            }
            syn::visit::visit_type_reference(self, r);
        }
        fn visit_lifetime(&mut self, l: &'ast syn::Lifetime) {
            if l.ident != "static" && self.0.is_none() {
                self.0 = Some(Borrow::Lifetime(l.clone()));
            }
        }
    }
    let mut finder = Finder(None);
    finder.visit_type(ty);
    finder.0
}

/// `ty` as a user would write it (`Vec<u8>`, not the token printer's `Vec < u8 >`), so
/// a message can quote it as the code to write.
fn type_text(ty: &Type) -> String {
    let mut text = ty.to_token_stream().to_string();
    for (spaced, tight) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        ("& ", "&"),
        ("( ", "("),
        (" )", ")"),
        ("[ ", "["),
        (" ]", "]"),
        (" ;", ";"),
    ] {
        text = text.replace(spaced, tight);
    }
    text
}
