//! Done callbacks that complete other futures do not nest without bound: a peer that
//! sends a burst of lines, or a long chain of futures, cannot overflow the stack.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::rc::Rc;

use ioloop::iostream::IOStream;
use ioloop::{Future, IOLoop};

/// Runs `f` on a thread with a 2 MiB stack (what `std::thread` gives by default), so a
/// recursion the library should not have shows up as an overflow here.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn a_chain_of_a_million_futures_completing_each_other_runs_in_bounded_stack() {
    on_small_stack(|| {
        const N: usize = 1_000_000;
        let futures: Vec<Future<usize>> = (0..=N).map(|_| Future::new()).collect();
        for i in 0..N {
            let next = futures[i + 1].clone();
            futures[i].add_done_callback(move |f| {
                next.set_result(f.result().unwrap() + 1).unwrap();
            });
        }
        futures[0].set_result(0).unwrap();
        assert_eq!(futures[N].result().unwrap(), N);
    });
}

#[test]
fn a_chain_of_callbacks_added_to_done_futures_runs_in_bounded_stack() {
    on_small_stack(|| {
        fn step(left: Rc<Cell<usize>>) {
            if left.get() == 0 {
                return;
            }
            left.set(left.get() - 1);
            Future::ready(()).add_done_callback(move |_| step(left));
        }
        let left = Rc::new(Cell::new(1_000_000));
        step(left.clone());
        assert_eq!(left.get(), 0);
    });
}

#[test]
fn nested_completions_keep_tornados_depth_first_order_however_deep() {
    // Each future has two callbacks: the first completes the next future, the second
    // records. Tornado runs them depth first: the innermost future's callbacks first.
    // With a chain deeper than any nesting limit, the order must be the same.
    const N: usize = 500;
    let order = Rc::new(RefCell::new(Vec::new()));
    let futures: Vec<Future<()>> = (0..=N).map(|_| Future::new()).collect();
    for i in 0..N {
        let next = futures[i + 1].clone();
        futures[i].add_done_callback(move |_| next.set_result(()).unwrap());
        let order = order.clone();
        futures[i].add_done_callback(move |_| order.borrow_mut().push(i));
    }
    futures[0].set_result(()).unwrap();
    let expected: Vec<usize> = (0..N).rev().collect();
    assert_eq!(*order.borrow(), expected);
}

#[test]
fn siblings_completed_by_one_deep_callback_run_in_completion_order() {
    // Deep in a chain, one callback completes two futures: the first one's callbacks
    // (and what they complete) run before the second's, as they would nested.
    const DEPTH: usize = 200;
    let order = Rc::new(RefCell::new(Vec::new()));
    let chain: Vec<Future<()>> = (0..=DEPTH).map(|_| Future::new()).collect();
    for i in 0..DEPTH {
        let next = chain[i + 1].clone();
        chain[i].add_done_callback(move |_| next.set_result(()).unwrap());
    }
    let (a, b, a_child) = (
        Future::<()>::new(),
        Future::<()>::new(),
        Future::<()>::new(),
    );
    {
        let (a, b) = (a.clone(), b.clone());
        chain[DEPTH].add_done_callback(move |_| {
            a.set_result(()).unwrap();
            b.set_result(()).unwrap();
        });
    }
    {
        let (order, a_child) = (order.clone(), a_child.clone());
        a.add_done_callback(move |_| {
            order.borrow_mut().push("a");
            a_child.set_result(()).unwrap();
        });
    }
    for (future, name) in [(&a_child, "a's child"), (&b, "b")] {
        let order = order.clone();
        future.add_done_callback(move |_| order.borrow_mut().push(name));
    }
    chain[0].set_result(()).unwrap();
    assert_eq!(*order.borrow(), vec!["a", "a's child", "b"]);
}

#[test]
fn a_callback_style_reader_fed_a_million_lines_in_one_burst_runs_in_bounded_stack() {
    on_small_stack(|| {
        const LINES: usize = 1_000_000;
        let io = IOLoop::new();
        io.make_current();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let stream = IOStream::new(listener.accept().unwrap().0).unwrap();
        // The peer's whole burst, on a thread: it is larger than the socket buffers.
        let writer = std::thread::spawn(move || {
            peer.write_all(&b"x\n".repeat(LINES)).unwrap();
            peer
        });

        fn read_next(stream: IOStream, left: Rc<Cell<usize>>) {
            let again = stream.clone();
            stream.read_until("\n", None).add_done_callback(move |f| {
                assert_eq!(&f.result().unwrap()[..], b"x\n");
                left.set(left.get() - 1);
                if left.get() == 0 {
                    IOLoop::current().stop();
                } else {
                    read_next(again, left);
                }
            });
        }
        let left = Rc::new(Cell::new(LINES));
        read_next(stream, left.clone());
        io.start().unwrap();
        assert_eq!(left.get(), 0);
        drop(writer.join().unwrap());
        io.close(false);
    });
}
