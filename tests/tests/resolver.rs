//! Name resolution off the loop (`ioloop::netutil::Resolver`, Tornado's
//! `tornado.netutil.Resolver`): the default resolver on the loop's thread pool, IP
//! literals without it, and a test's own resolver in `TCPClient`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::Duration;

use ioloop::netutil::{AddressFamily, DefaultExecutorResolver, Resolver};
use ioloop::prelude::*;
use ioloop::tcpclient::TCPClient;
use ioloop::ErrorKind;

#[test]
fn an_ip_literal_resolves_at_once_without_the_pool() {
    let _io = IOLoop::new();
    let v4 = DefaultExecutorResolver.resolve("127.0.0.1", 80, AddressFamily::Unspecified);
    assert_eq!(v4.result().unwrap(), ["127.0.0.1:80".parse().unwrap()]);
    let v6 = DefaultExecutorResolver.resolve("::1", 443, AddressFamily::Inet6);
    assert_eq!(v6.result().unwrap(), ["[::1]:443".parse().unwrap()]);
}

#[test]
fn a_literal_of_another_family_than_asked_fails() {
    let _io = IOLoop::new();
    let err = DefaultExecutorResolver
        .resolve("127.0.0.1", 80, AddressFamily::Inet6)
        .result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
}

#[test]
fn a_name_resolves_on_the_pool_while_the_loop_runs() {
    let io = IOLoop::new();
    let resolving = io.run_sync(
        || {
            let resolving = DefaultExecutorResolver.resolve("localhost", 8080, AddressFamily::Inet);
            // Not answered in the call: the lookup is on another thread.
            assert!(!resolving.done());
            resolving
        },
        None,
    );
    let addrs = resolving.unwrap();
    assert!(!addrs.is_empty());
    assert!(
        addrs.iter().all(|a| a.is_ipv4() && a.port() == 8080),
        "{addrs:?}"
    );
}

#[test]
fn a_name_the_system_cannot_take_fails_with_an_io_error() {
    let io = IOLoop::new();
    let err = io
        .run_sync(
            || DefaultExecutorResolver.resolve("no\0such", 80, AddressFamily::Unspecified),
            None,
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
}

/// Maps names to fixed addresses and records what it was asked; unknown names are
/// never answered.
#[derive(Clone, Default)]
struct Mapping {
    names: Rc<RefCell<HashMap<String, Vec<SocketAddr>>>>,
    asked: Rc<RefCell<Vec<Future<Vec<SocketAddr>>>>>,
}

impl Resolver for Mapping {
    fn resolve(&self, host: &str, port: u16, _: AddressFamily) -> Future<Vec<SocketAddr>> {
        let answer = self.names.borrow().get(host).cloned();
        let future = match answer {
            Some(mut addrs) => {
                addrs.iter_mut().for_each(|a| a.set_port(port));
                Future::ready(addrs)
            }
            None => Future::new(),
        };
        self.asked.borrow_mut().push(future.clone());
        future
    }
}

#[test]
fn a_tcp_client_connects_where_its_resolver_says() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let resolver = Mapping::default();
    resolver
        .names
        .borrow_mut()
        .insert("service.test".into(), vec![addr]);
    let client = TCPClient::with_resolver(resolver);
    let io = IOLoop::new();
    let stream = io
        .run_sync(
            move || client.connect("service.test", addr.port(), None),
            None,
        )
        .unwrap();
    assert_eq!(stream.peer_addr().unwrap(), addr);
}

#[test]
fn a_resolver_that_never_answers_ends_in_the_timeout_and_is_cancelled() {
    let resolver = Mapping::default();
    let client = TCPClient::with_resolver(resolver.clone());
    let io = IOLoop::new();
    let err = io
        .run_sync(
            move || client.connect("nowhere.test", 80, Some(Duration::from_millis(10))),
            None,
        )
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let asked = resolver.asked.borrow();
    assert_eq!(asked.len(), 1);
    assert!(asked[0].cancelled(), "the lookup is abandoned");
}

#[test]
fn a_resolver_error_fails_the_connect_with_it() {
    struct Refusing;
    impl Resolver for Refusing {
        fn resolve(&self, host: &str, _: u16, _: AddressFamily) -> Future<Vec<SocketAddr>> {
            Future::failed(Error::msg(format!("no such host {host}")))
        }
    }
    let io = IOLoop::new();
    let err = io
        .run_sync(
            || TCPClient::with_resolver(Refusing).connect("x.test", 1, None),
            None,
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "no such host x.test");
}

#[test]
fn an_empty_answer_fails_the_connect() {
    let resolver = Mapping::default();
    resolver
        .names
        .borrow_mut()
        .insert("empty.test".into(), Vec::new());
    let io = IOLoop::new();
    let err = io
        .run_sync(
            move || TCPClient::with_resolver(resolver).connect("empty.test", 1, None),
            None,
        )
        .unwrap_err();
    assert!(err.to_string().contains("resolved to no address"), "{err}");
}
