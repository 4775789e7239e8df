//! Which undercloud.conf the undercloud was installed from: its md5, written beside it on
//! the undercloud by the install's own job once `openstack undercloud install` succeeded. A changed
//! undercloud.conf is applied only by running the install again (TripleO re-runs it as an
//! update), so the install's check compares the wanted file with this record. The record
//! lives on the undercloud, so a snapshot restore or a respin brings back the matching one.

use crate::host::Cmd;
use crate::plan::HostRole;
use crate::plan::StepCtx;
use std::path::{Path, PathBuf};

/// The record's file name in the stack user's home.
pub const RECORD: &str = ".labwarp-installed-undercloud-conf.md5";

pub fn record_path(home: &Path) -> PathBuf {
    home.join(RECORD)
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    format!("{:x}", Md5::digest(data))
}

/// `None` when the undercloud was installed from `wanted`; otherwise why the install must
/// run again. Without a record the install never finished under labwarp (the job writes it
/// last, only on success: a job still running, or an undercloud installed by other means),
/// so which undercloud.conf it holds cannot be told: the install runs (again), which
/// TripleO takes as an update, and follows a job still running instead of starting one.
pub async fn changed_since_install(
    ctx: &StepCtx<'_>,
    home: &Path,
    wanted: &[u8],
) -> anyhow::Result<Option<String>> {
    let uc = ctx.host(HostRole::Undercloud);
    let want = md5_hex(wanted);
    let record = record_path(home);
    if !uc.exists(&record).await? {
        return Ok(Some(format!(
            "no record of the undercloud.conf the undercloud was installed from ({} is written by a finished install): `openstack undercloud install` runs, or an install still running is followed",
            record.display()
        )));
    }
    let installed = String::from_utf8_lossy(&uc.read_file(&record).await?)
        .trim()
        .to_string();
    Ok((installed != want).then(|| {
        format!(
            "undercloud.conf changed since the install (installed from md5 {}, wanted {}): `openstack undercloud install` runs again to apply it",
            short(&installed),
            short(&want)
        )
    }))
}

/// Sent as the install job's command: runs the install (`"$@"`), then, only when it
/// succeeded, writes the record atomically (0600). Arguments: the record's path, the md5.
const RECORD_AFTER: &str = r#"r=$1; m=$2; shift 2
"$@" || exit $?
(umask 077 && printf '%s\n' "$m" > "$r.tmp") && mv -f "$r.tmp" "$r""#;

/// `install` (the `openstack undercloud install` job's command) made to write the record
/// itself once it succeeds. The job is detached and outlives a labwarp killed while it
/// runs: were the record written by labwarp after the job, a kill in between would leave
/// an installed undercloud without one, and the next run's check would take the
/// undercloud.conf in place — already rewritten to the wanted one — for the one installed
/// from, so a later change of it would never run the install again.
pub fn written_by_the_install(install: Cmd, home: &Path, wanted: &[u8]) -> Cmd {
    let mut argv = vec![
        "sh".to_string(),
        "-c".into(),
        RECORD_AFTER.into(),
        "sh".into(),
        record_path(home).to_string_lossy().into_owned(),
        md5_hex(wanted),
    ];
    argv.extend(install.argv.iter().cloned());
    Cmd { argv, ..install }
}

/// The first 12 hex digits of an md5, as messages show it.
pub(super) fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_install_job_writes_the_record_only_when_the_install_succeeded() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        let run = |argv: &[&str]| {
            let cmd = super::written_by_the_install(
                crate::host::Cmd::new(argv.iter().copied()),
                home,
                b"[DEFAULT]\n",
            );
            std::process::Command::new(&cmd.argv[0])
                .args(&cmd.argv[1..])
                .status()
                .unwrap()
        };
        let record = super::record_path(home);
        let st = run(&["sh", "-c", "exit 3"]);
        assert_eq!(st.code(), Some(3), "the install's own status is the job's");
        assert!(!record.exists(), "a failed install left a record");
        // Words with spaces and quotes reach the install intact.
        let st = run(&["sh", "-c", "test \"$1\" = \"a 'b\"", "sh", "a 'b"]);
        assert!(st.success());
        assert_eq!(
            std::fs::read_to_string(&record).unwrap(),
            format!("{}\n", super::md5_hex(b"[DEFAULT]\n"))
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&record).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!home.join(format!("{}.tmp", super::RECORD)).exists());
    }

    #[test]
    fn md5_is_hex_of_the_content() {
        assert_eq!(super::md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(super::short("0123456789abcdef"), "0123456789ab");
    }
}
