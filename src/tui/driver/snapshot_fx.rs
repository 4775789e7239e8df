//! The snapshots screen's effects: `plan::snapshot` through the lab's session, each result
//! back as a message. The same back-end calls as `labwarp snapshot`.

use super::Driver;
use crate::lab::Lab;
use crate::plan::snapshot::{self, RestoreOptions, human_age, human_size};
use crate::run::respin::Respin;
use crate::tui::app::Msg;
use crate::tui::screens::snapshots::{Op, Reply, Row, busy_text};

fn failed(e: String) -> Msg {
    Msg::Snapshots(Reply::Done(Err(e)))
}

pub(super) fn carry_out(d: &Driver, lab: Lab, op: Op) {
    let _ = d.tx.send(Msg::Snapshots(Reply::Busy(busy_text(&op))));
    d.with_session(lab, failed, move |s, tx| async move {
        let reply = match op {
            Op::List => Reply::Listed(
                snapshot::list(&s.ctx)
                    .await
                    .map(|l| {
                        l.into_iter()
                            .map(|i| Row {
                                size: human_size(i.size_bytes),
                                age: human_age(i.age_secs),
                                vms: i.vms.len(),
                                name: i.name,
                            })
                            .collect()
                    })
                    .map_err(|e| format!("{e:#}")),
            ),
            Op::Save(name) => Reply::Done(
                snapshot::save(&s.ctx, &name, &|_| {})
                    .await
                    .map(|i| format!("snapshot {} saved ({})", i.name, human_size(i.size_bytes)))
                    .map_err(|e| format!("{e:#}")),
            ),
            Op::Restore(name) => Reply::Done(
                snapshot::restore(&s.ctx, &s.store, &name, &RestoreOptions::default(), &|_| {})
                    .await
                    .map(|()| format!("lab restored to snapshot {name}"))
                    .map_err(|e| format!("{e:#}")),
            ),
            Op::Respin(r) => {
                let progress = tx.clone();
                let say = move |l: String| {
                    let _ = progress.send(Msg::Snapshots(Reply::Busy(format!("respin: {l}"))));
                };
                Reply::Respun(
                    crate::run::respin::prepare(&s.ctx, &s.store, &s.plan, r, &say)
                        .await
                        .map(|()| match r {
                            Respin::Overcloud => {
                                "lab back at the installed undercloud; the run deploys the overcloud again".to_string()
                            }
                            Respin::Undercloud => {
                                "undercloud removed; the run builds it again from the base image".to_string()
                            }
                        })
                        .map_err(|e| format!("{e:#}")),
                )
            }
            Op::Delete(name) => Reply::Done(
                snapshot::delete(&s.ctx, &name)
                    .await
                    .map(|()| format!("snapshot {name} deleted"))
                    .map_err(|e| format!("{e:#}")),
            ),
        };
        let _ = tx.send(Msg::Snapshots(reply));
    });
}
