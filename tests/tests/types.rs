//! Properties of the public types that only the compiler can check.

use optimistic_core::Optimistic;
use optimistic_core::{Delete, Error, Stale, Update};
use optimistic_tests::models::{Assignment, Seat};

fn send_sync<T: Send + Sync + 'static>() {}

#[test]
fn outcomes_can_cross_await_points_and_threads() {
    send_sync::<Update<Seat>>();
    send_sync::<Delete<Seat>>();
    send_sync::<Error<Seat>>();
    send_sync::<Stale<Seat>>();
    send_sync::<Update<Assignment>>();
    send_sync::<Error<Assignment>>();
}

#[test]
fn errors_convert_into_boxed_errors() {
    let error: Box<dyn std::error::Error + Send + Sync> =
        Seat::free(1).update().check(0).unwrap_err().into();
    assert!(error.to_string().starts_with("stale seats (id = 1)"));
}
