//! Which undercloud.conf the undercloud was installed from: its md5, written beside it on
//! the undercloud after a successful `openstack undercloud install`. A changed
//! undercloud.conf is applied only by running the install again (TripleO re-runs it as an
//! update), so the install's check compares the wanted file with this record. The record
//! lives on the undercloud, so a snapshot restore or a respin brings back the matching one.

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
/// run again. Without a record (installed before labwarp kept one), the undercloud.conf in
/// place stands for the one installed from.
pub async fn changed_since_install(
    ctx: &StepCtx<'_>,
    home: &Path,
    wanted: &[u8],
) -> anyhow::Result<Option<String>> {
    let uc = ctx.host(HostRole::Undercloud);
    let want = md5_hex(wanted);
    let record = record_path(home);
    let installed = if uc.exists(&record).await? {
        String::from_utf8_lossy(&uc.read_file(&record).await?)
            .trim()
            .to_string()
    } else {
        let conf = home.join("undercloud.conf");
        if !uc.exists(&conf).await? {
            return Ok(Some(format!("{} missing", conf.display())));
        }
        md5_hex(&uc.read_file(&conf).await?)
    };
    Ok((installed != want).then(|| {
        format!(
            "undercloud.conf changed since the install (installed from md5 {}, wanted {}): `openstack undercloud install` runs again to apply it",
            short(&installed),
            short(&want)
        )
    }))
}

/// Writes the record after a successful install from `wanted`.
pub async fn record_install(ctx: &StepCtx<'_>, home: &Path, wanted: &[u8]) -> anyhow::Result<()> {
    ctx.host(HostRole::Undercloud)
        .write_file(
            &record_path(home),
            format!("{}\n", md5_hex(wanted)).as_bytes(),
            0o600,
        )
        .await?;
    Ok(())
}

fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

#[cfg(test)]
mod tests {
    #[test]
    fn md5_is_hex_of_the_content() {
        assert_eq!(super::md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(super::short("0123456789abcdef"), "0123456789ab");
    }
}
