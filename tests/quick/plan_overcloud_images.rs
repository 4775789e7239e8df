//! The overcloud image and IPA tarballs, for real: `curl` through a `LocalHost` against an
//! HTTP server on 127.0.0.1 serving a tarball and its `<url>.md5` (quickstart's layout), a
//! mirror failing mid-download and the rerun that resumes from the partial file; the cache
//! entry shared between labs (no lab's resource) beside a lab's own; the copy to the
//! undercloud resumed from a partial copy, verified, unpacked; nothing downloaded from the
//! internet.

use crate::plan_support;

use labwarp::lab::{ImageSource, Lab};
use labwarp::plan::Facts;
use labwarp::plan::steps::images::Download;
use labwarp::plan::steps::overcloud_images::{CopyToUndercloud, Unpack, members};
use labwarp::plan::tripleo_stages::cached_tarball;
use plan_support::{HttpServer, content, env, md5};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;

/// A real `overcloud-full.tar` (the members ironic needs, of test content) in `dir`.
fn tarball(dir: &Path, file: &str, len: usize) -> Vec<u8> {
    let src = dir.join(format!("{file}.src"));
    std::fs::create_dir_all(&src).unwrap();
    for (i, m) in members(file).iter().enumerate() {
        std::fs::write(src.join(m), content(len, i as u8 + 7)).unwrap();
    }
    let out = dir.join(file);
    let o = Command::new("tar")
        .arg("-cf")
        .arg(&out)
        .arg("-C")
        .arg(&src)
        .args(members(file))
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    std::fs::read(out).unwrap()
}

fn lab_with(overcloud: Option<ImageSource>) -> Lab {
    let mut lab = Lab {
        name: "oci".into(),
        ..Lab::default()
    };
    lab.tripleo.overcloud_image = overcloud;
    lab
}

#[tokio::test]
async fn a_mirror_failing_mid_download_leaves_the_part_and_the_rerun_completes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let body = tarball(tmp.path(), "overcloud-full.tar", 1024 * 1024 + 3);
    let sum = md5(&body);
    let cut = body.len() / 3;
    let srv = HttpServer::start(
        vec![
            ("/wallaby/overcloud-full.tar".into(), body.clone()),
            (
                "/wallaby/overcloud-full.tar.md5".into(),
                format!("{sum}  overcloud-full.tar\n").into_bytes(),
            ),
        ],
        Some(("/wallaby/overcloud-full.tar".into(), cut)),
    )
    .await;
    let url = srv.url("/wallaby/overcloud-full.tar");
    let lab = lab_with(Some(ImageSource {
        source: url.clone(),
        md5: None,
        md5_url: Some(format!("{url}.md5")),
    }));
    let e = env(lab.clone()).await;
    let [oc, _] = lab.tripleo.images().unwrap();
    let mut facts = Facts::decide(&lab, e.dir.path());
    facts.image_cache = e.dir.path().join("cache");
    std::fs::create_dir_all(&facts.image_cache).unwrap();
    let path = cached_tarball(&lab, &facts, &oc);
    assert!(
        path.ends_with("oci-overcloud-full.tar"),
        "a lab's own source is the lab's entry: {path:?}"
    );
    let step = Download {
        id: "overcloud-image".into(),
        field: oc.field.into(),
        path: path.clone(),
        source: oc.source.clone(),
    };

    // The first response breaks off at a third; every resume is then refused (503).
    srv.refuse_ranges.store(true, Ordering::SeqCst);
    let err = e.run(&step).await.expect_err("the mirror fails");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("tripleo.overcloud_image.source") && msg.contains("the next run resumes it"),
        "{msg}"
    );
    let part = std::fs::read(step.part()).expect("the partial file is kept");
    assert_eq!(part.len(), cut, "what arrived is kept, nothing more");
    assert_eq!(&part[..], &body[..cut]);
    assert!(!path.exists(), "nothing unverified is put in place");
    let c = e.check(&step).await;
    assert!(
        !c.done
            && c.saw
                .contains(&format!("holds {cut} bytes and will be resumed")),
        "{c:?}"
    );

    // The mirror is back: the rerun resumes at the cut and verifies the whole.
    srv.refuse_ranges.store(false, Ordering::SeqCst);
    e.run(&step).await.expect("the rerun completes");
    assert_eq!(std::fs::read(&path).unwrap(), body);
    let resumed = srv
        .requests()
        .into_iter()
        .filter(|r| r.path == "/wallaby/overcloud-full.tar" && r.status == 206)
        .collect::<Vec<_>>();
    assert_eq!(
        resumed.last().and_then(|r| r.range.clone()),
        Some(format!("bytes={cut}-")),
        "{resumed:?}"
    );
    let again = e.check(&step).await;
    assert!(again.done && again.saw.contains(&sum), "{again:?}");
}

#[test]
fn the_releases_images_are_a_shared_cache_entry_no_lab_owns() {
    let dir = tempfile::tempdir().unwrap();
    for (own, shared_name) in [
        (None, "tripleo-wallaby-overcloud-full.tar"),
        (
            Some(ImageSource {
                source: "https://mirror.example.com/overcloud-full.tar".into(),
                md5: None,
                md5_url: Some("https://mirror.example.com/overcloud-full.tar.md5".into()),
            }),
            "shared-overcloud-full.tar",
        ),
    ] {
        let mut lab = labwarp::lab::load_preset("minimal").unwrap();
        lab.name = "shared".into();
        lab.overcloud.vbmc.password = Some(labwarp::lab::Secret("x".into()));
        lab.tripleo.overcloud_image = own.clone();
        let facts = Facts::decide(&lab, dir.path());
        assert!(!facts.sandbox, "minimal is a real hypervisor's lab");
        let plan = labwarp::plan::stages::build(&lab, &facts, dir.path()).unwrap();
        let images = plan.iter().find(|s| s.id == "images").unwrap();
        let step = |id: &str| {
            images
                .steps
                .iter()
                .find(|p| p.step.id() == id)
                .unwrap_or_else(|| panic!("no {id}"))
                .step
                .clone()
        };
        let oc = step("overcloud-image");
        let ipa = step("ipa-image");
        assert!(oc.title().contains(shared_name), "{}", oc.title());
        assert!(
            ipa.title()
                .contains("tripleo-wallaby-ironic-python-agent.tar")
                && ipa.title().contains("(shared cache)")
                && ipa.resources().is_empty(),
            "the release's IPA is shared: {}",
            ipa.title()
        );
        if own.is_none() {
            assert!(oc.resources().is_empty(), "shared: no lab's resource");
        } else {
            let r = oc.resources();
            assert!(
                r.iter()
                    .any(|r| format!("{r:?}").contains("shared-overcloud-full.tar")),
                "the lab's own entry is the lab's: {r:?}"
            );
        }
    }
}

#[tokio::test]
async fn the_copy_to_the_undercloud_resumes_is_verified_and_unpacked_once() {
    let e = env(Lab::default()).await;
    let cache = e.dir.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    // Two whole chunks of 4 MiB and a bit: the copy goes in three rounds.
    let body = tarball(&cache, "ironic-python-agent.tar", 4 * 1024 * 1024 + 11);
    let from = cache.join("ironic-python-agent.tar");
    std::fs::write(
        cache.join("ironic-python-agent.tar.md5"),
        format!("{}  {}\n", md5(&body), from.display()),
    )
    .unwrap();
    let images = e.dir.path().join("home/stack/images");
    std::fs::create_dir_all(&images).unwrap();
    let to = images.join("ironic-python-agent.tar");
    let copy = CopyToUndercloud {
        id: "ipa-image-copy".into(),
        from: from.clone(),
        to: to.clone(),
    };
    // A copy killed after its first chunk and into the second.
    let chunk = 4 * 1024 * 1024;
    std::fs::write(
        images.join("ironic-python-agent.tar.part"),
        &body[..chunk + 100],
    )
    .unwrap();
    let c = e.check(&copy).await;
    assert!(
        !c.done
            && c.saw
                .contains(&format!("{} bytes of it are there", chunk + 100)),
        "{c:?}"
    );
    let mut e = e;
    e.run(&copy).await.expect("copy");
    assert_eq!(std::fs::read(&to).unwrap(), body);
    let log = e.log().join("\n");
    assert!(
        log.contains(&format!(
            "resuming the copy of {} at byte {chunk}",
            from.display()
        )),
        "{log}"
    );
    assert!(e.check(&copy).await.done);

    // A corrupt partial copy is caught by the md5 and removed; the next run copies anew.
    std::fs::remove_file(&to).unwrap();
    let mut bad = body[..chunk].to_vec();
    bad[10] ^= 0xff;
    std::fs::write(images.join("ironic-python-agent.tar.part"), &bad).unwrap();
    let err = e.run(&copy).await.expect_err("md5 mismatch");
    assert!(
        format!("{err:#}").contains("the next run copies it again"),
        "{err:#}"
    );
    assert!(!images.join("ironic-python-agent.tar.part").exists());
    e.run(&copy).await.expect("copied anew");
    assert_eq!(std::fs::read(&to).unwrap(), body);

    let unpack = Unpack {
        id: "ipa-image-unpack".into(),
        tar: to.clone(),
        file: "ironic-python-agent.tar",
    };
    let first = e.run(&unpack).await.expect("unpack");
    assert!(!first.done, "{first:?}");
    for (i, m) in members("ironic-python-agent.tar").iter().enumerate() {
        assert_eq!(
            std::fs::read(images.join(m)).unwrap(),
            content(4 * 1024 * 1024 + 11, i as u8 + 7)
        );
    }
    assert!(e.check(&unpack).await.done, "a rerun unpacks nothing");
}
