//! Encoding of reply frames: a header and a body, watch notifications, write results.

use crate::codec::jute::frame::{finish_frame, start_frame};
use crate::codec::jute::{
    event, op, write_multi_header, write_reply_header, write_watcher_event, xid, JuteWrite, Stat,
};
use crate::datatree::OpResult;
use bytes::Bytes;

pub(super) fn reply(xid: i32, zxid: i64, err: i32, body: impl FnOnce(&mut Vec<u8>)) -> Bytes {
    let mut w = start_frame();
    write_reply_header(&mut w, xid, zxid, err);
    if err == 0 {
        body(&mut w);
    }
    finish_frame(w)
}

pub(super) fn notification(ev: i32, path: &str) -> Bytes {
    let mut w = start_frame();
    write_reply_header(&mut w, xid::NOTIFICATION, -1, 0);
    write_watcher_event(&mut w, ev, event::STATE_SYNC_CONNECTED, path);
    finish_frame(w)
}

pub(super) fn write_stat(w: &mut Vec<u8>, s: &Stat) {
    s.write(w)
}

pub(super) fn encode_write_result(xid: i32, zxid: i64, opcode: i32, r: &OpResult) -> Bytes {
    match r {
        OpResult::Error(e) => reply(xid, zxid, *e, |_| {}),
        OpResult::Created { path, stat, .. } => reply(xid, zxid, 0, |w| {
            w.put_str(path);
            if opcode != op::CREATE {
                write_stat(w, stat);
            }
        }),
        OpResult::SetData { stat } | OpResult::SetAcl { stat } => {
            reply(xid, zxid, 0, |w| write_stat(w, stat))
        }
        _ => reply(xid, zxid, 0, |_| {}),
    }
}

pub(super) fn encode_multi(w: &mut Vec<u8>, r: &OpResult) {
    if let OpResult::Multi(rs) = r {
        for r in rs {
            match r {
                OpResult::Created { path, stat, opcode } => {
                    // Inside a multi a plain create answers with its path only; create2 and
                    // container / TTL creates add the Stat (ZooKeeper 3.8.2+, ZOOKEEPER-4026).
                    if *opcode == op::CREATE {
                        write_multi_header(w, op::CREATE, false, 0);
                        w.put_str(path);
                    } else {
                        write_multi_header(w, op::CREATE2, false, 0);
                        w.put_str(path);
                        write_stat(w, stat);
                    }
                }
                OpResult::Deleted => write_multi_header(w, op::DELETE, false, 0),
                OpResult::SetData { stat } => {
                    write_multi_header(w, op::SET_DATA, false, 0);
                    write_stat(w, stat);
                }
                OpResult::Checked => write_multi_header(w, op::CHECK, false, 0),
                OpResult::Error(e) => {
                    write_multi_header(w, op::ERROR, false, *e);
                    w.put_i32(*e);
                }
                _ => {}
            }
        }
    }
    write_multi_header(w, -1, true, -1);
}
