//! A rolling upgrade from an earlier build of Keeper (the previous release) to this one, as an
//! operator does it: under continuous writes, each member stopped with SIGTERM and started on
//! the new binary, followers first, the leader last. Nothing acknowledged is lost, no client
//! session expires, and the time without a leader is measured.
//!
//! The earlier binary is `KEEPER_PREVIOUS_BIN`; `make upgrade-test` builds it from
//! `KEEPER_PREVIOUS` (a commit or tag; default the newest tag) and runs this. Without it the
//! test says so and checks nothing.

mod common;

use common::cluster::*;
use common::Ensemble;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const ELECTION: Duration = Duration::from_secs(20);

fn binary_of(e: &Ensemble, id: u64) -> PathBuf {
    let pid = e.pid(id).expect("running");
    std::fs::read_link(format!("/proc/{pid}/exe")).expect("its binary")
}

#[test]
fn a_rolling_upgrade_from_the_previous_release_loses_nothing() {
    let Some(previous) = std::env::var_os("KEEPER_PREVIOUS_BIN").map(PathBuf::from) else {
        println!(
            "SKIPPED: no earlier build to upgrade from; `make upgrade-test KEEPER_PREVIOUS=<commit>` \
             builds one and runs this"
        );
        return;
    };
    let previous = previous.canonicalize().expect("KEEPER_PREVIOUS_BIN");
    let current = PathBuf::from(env!("CARGO_BIN_EXE_keeper"))
        .canonicalize()
        .unwrap();
    let _serial = serial();
    let mut e = Ensemble::new(3, 0, &[]);
    for id in e.ids() {
        e.set_member_binary(id, Some(previous.clone()));
    }
    e.start_all();
    let leader = e.wait_leader(ELECTION);
    for id in e.ids() {
        assert_eq!(binary_of(&e, id), previous);
    }
    let rt = rt();
    rt.block_on(async {
        let c = connect(&e.connect_string_all()).await;
        c.create("/upgrade", b"", OPEN).await.unwrap();
    });
    // Sessions on every member, writing all along.
    let load = Load::start(
        &rt,
        &e.connect_string_all(),
        "/upgrade",
        "",
        4,
        Duration::from_millis(5),
    );
    rt.block_on(load.progress(100, 20, "writes on the previous release"));
    let mut order: Vec<u64> = e.ids().into_iter().filter(|&i| i != leader).collect();
    order.push(leader);
    let mut leaderless = Duration::ZERO;
    for id in order {
        let t = Instant::now();
        e.terminate(id);
        e.set_member_binary(id, None);
        e.start_one(id);
        let modes = e.wait_modes(ELECTION);
        if id == leader {
            leaderless = t.elapsed();
        }
        rt.block_on(load.progress(100, 30, &format!("writes after upgrading {id}")));
        println!(
            "upgraded {id} ({}): {modes:?} after {:?}",
            if id == leader {
                "the leader"
            } else {
                "a follower"
            },
            t.elapsed()
        );
    }
    for id in e.ids() {
        assert_eq!(binary_of(&e, id), current, "member {id}");
    }
    let ledger = rt.block_on(load.stop());
    println!(
        "rolling upgrade: {} writes acknowledged, {} uncertain, errors {:?}; from the old \
         leader's SIGTERM to all three serving again under a new leader: {leaderless:?}",
        ledger.acked.len(),
        ledger.uncertain.len(),
        ledger.errors
    );
    assert!(
        !ledger.errors.keys().any(|k| k.contains("SessionExpired")),
        "a session expired: {:?}",
        ledger.errors
    );
    rt.block_on(check_ledger(&e, &e.ids(), "/upgrade", &ledger));
}
