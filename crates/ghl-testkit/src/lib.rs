//! What the tests and benchmarks of every crate share, in one place: a store on SQLite or on a
//! PostgreSQL schema of its own ([`TestDb`], [`on_both!`]), a sandbox on `127.0.0.1:0`
//! ([`TestSandbox`]) and one signing key pair per test binary ([`keys`]). A dev-dependency
//! only: nothing here ships.

#![allow(clippy::expect_used)]

mod db;
mod sandbox;

pub use db::{sqlite_store, Backend, TestDb, POSTGRES};
pub use sandbox::{keys, TestSandbox};

/// A test on SQLite and on PostgreSQL: a module `$name` with the tests `sqlite` and
/// `postgres`, each giving `$check` a fresh store, what `$setup` makes of it, or the
/// database itself. `multi_thread` runs them on two worker threads (a server and its workers
/// beside the test).
///
/// ```ignore
/// on_both!(claims_once, claims_once);                       // claims_once(Store)
/// on_both!(delivered_twice, run_once, via super::start);    // run_once(start(Store).await)
/// on_both!(delivered_twice, run_once, via super::start, multi_thread);
/// on_both!(wrong_key_refused, wrong_key, with_db);          // wrong_key(TestDb)
/// ```
#[macro_export]
macro_rules! on_both {
    ($name:ident, $check:ident) => {
        $crate::on_both!(@tests $name, $check, db => db.store().await, [tokio::test]);
    };
    ($name:ident, $check:ident, multi_thread) => {
        $crate::on_both!(@tests $name, $check, db => db.store().await,
            [tokio::test(flavor = "multi_thread", worker_threads = 2)]);
    };
    ($name:ident, $check:ident, via $setup:path) => {
        $crate::on_both!(@tests $name, $check, db => $setup(db.store().await).await, [tokio::test]);
    };
    ($name:ident, $check:ident, via $setup:path, multi_thread) => {
        $crate::on_both!(@tests $name, $check, db => $setup(db.store().await).await,
            [tokio::test(flavor = "multi_thread", worker_threads = 2)]);
    };
    ($name:ident, $check:ident, with_db) => {
        $crate::on_both!(@tests $name, $check, db => db, [tokio::test]);
    };
    ($name:ident, $check:ident, with_db, multi_thread) => {
        $crate::on_both!(@tests $name, $check, db => db,
            [tokio::test(flavor = "multi_thread", worker_threads = 2)]);
    };
    (@tests $name:ident, $check:ident, $db:ident => $given:expr, [$($test:tt)*]) => {
        mod $name {
            #[$($test)*]
            async fn sqlite() {
                let $db = $crate::TestDb::new($crate::Backend::Sqlite).await;
                super::$check($given).await;
            }

            #[$($test)*]
            async fn postgres() {
                let $db = $crate::TestDb::new($crate::Backend::Postgres).await;
                super::$check($given).await;
            }
        }
    };
}
