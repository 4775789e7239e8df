//! `common::turn`, which the grouped heavy binaries use so that their files take turns: two
//! tests of one file hold the turn together, a test of another file waits until both end.

use crate::common::turn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

#[test]
fn files_take_turns_and_a_files_tests_share_one() {
    let a1 = turn("quick::turns_file_a");
    // The same file: no wait.
    let a2 = turn("quick::turns_file_a");
    let entered = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let e = entered.clone();
    let other = std::thread::spawn(move || {
        tx.send(()).unwrap();
        let _b = turn("quick::turns_file_b");
        e.store(true, Ordering::SeqCst);
    });
    rx.recv().unwrap();
    // Another file waits while any test of the first runs (a grace period for it to try).
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !entered.load(Ordering::SeqCst),
        "entered during file a's turn"
    );
    drop(a1);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !entered.load(Ordering::SeqCst),
        "entered while a test of file a still ran"
    );
    drop(a2);
    other.join().unwrap();
    assert!(
        entered.load(Ordering::SeqCst),
        "never entered after file a ended"
    );
}

#[test]
fn a_panicking_test_gives_its_turn_back() {
    let r = std::thread::spawn(|| {
        let _t = turn("quick::turns_panics");
        panic!("a failing test");
    })
    .join();
    assert!(r.is_err());
    // Would block forever if the turn had stayed with the panicked test.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _t = turn("quick::turns_after_panic");
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the turn was given back after the panic");
}
