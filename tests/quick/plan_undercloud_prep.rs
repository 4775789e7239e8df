//! The undercloud-prep steps that write system files, in their real-undercloud form (as
//! root, `standin: false`), through a real `LocalHost` on a temporary root directory: the
//! repos, /etc/hosts and the sudoers entry judged by the real `visudo -c` before it is put
//! in place (a refused entry never reaches sudoers.d). dnf, hostnamectl and systemctl are
//! not run here: they would change this machine.

use crate::plan_support;

use labwarp::lab::Lab;
use labwarp::plan::steps::undercloud_prep::{EtcHosts, Prep, Repos, StackSudo};
use plan_support::env;

fn real(root: &std::path::Path) -> Prep {
    Prep {
        root: root.to_path_buf(),
        standin: false,
    }
}

#[tokio::test]
async fn the_sudoers_entry_is_judged_by_visudo_before_it_is_put_in_place() {
    let e = env(Lab::default()).await;
    let root = e.dir.path().join("root");
    let step = StackSudo {
        prep: real(&root),
        user: "stack".into(),
    };
    let first = e.run(&step).await.expect("sudoers entry");
    assert!(!first.done && first.saw.contains("missing"), "{first:?}");
    let file = root.join("etc/sudoers.d/stack");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "# written by labwarp\nstack ALL=(root) NOPASSWD:ALL\n"
    );
    assert!(!root.join("etc/sudoers.d/.labwarp-stack.new").exists());
    assert!(e.check(&step).await.done, "a rerun changes nothing");

    // A user name sudoers cannot parse (validation refuses it before a plan is made; here
    // the step is handed one): visudo refuses, nothing reaches sudoers.d.
    let bad = StackSudo {
        prep: real(&root),
        user: "bad user".into(),
    };
    let err = e.run(&bad).await.expect_err("visudo refuses");
    assert!(
        format!("{err:#}").contains("visudo -c refused labwarp's sudoers entry"),
        "{err:#}"
    );
    let left: Vec<String> = std::fs::read_dir(root.join("etc/sudoers.d"))
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        ["stack"],
        "the refused entry is gone, staged copy too"
    );
}

#[tokio::test]
async fn repos_and_etc_hosts_are_written_once_and_kept() {
    let e = env(Lab::default()).await;
    let root = e.dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/hosts"), "127.0.0.1 localhost").unwrap();
    let hosts = EtcHosts {
        prep: real(&root),
        fqdn: "undercloud.localdomain".into(),
    };
    e.run(&hosts).await.expect("hosts");
    assert_eq!(
        std::fs::read_to_string(root.join("etc/hosts")).unwrap(),
        "127.0.0.1 localhost\n127.0.0.1 undercloud.localdomain undercloud # labwarp: undercloud_hostname\n"
    );
    assert!(e.check(&hosts).await.done);

    let rel = labwarp::lab::release::release("master").unwrap();
    let repos = Repos {
        prep: real(&root),
        release: rel,
    };
    e.run(&repos).await.expect("repos");
    let text = std::fs::read_to_string(root.join("etc/yum.repos.d/labwarp-tripleo.repo")).unwrap();
    assert!(
        text.contains("baseurl=https://trunk.rdoproject.org/centos9-master/current-tripleo/"),
        "{text}"
    );
    // Another release's file is replaced, not kept.
    let zed = Repos {
        prep: real(&root),
        release: labwarp::lab::release::release("zed").unwrap(),
    };
    let c = e.check(&zed).await;
    assert!(!c.done && c.saw.contains("names other repos"), "{c:?}");
}
