//! Long commands (`openstack undercloud install`, `overcloud node introspect`, `overcloud
//! deploy`) run as detached jobs on their host, so that labwarp dying (kill -9, a closed
//! terminal, a dropped SSH connection) neither kills them halfway nor lets the next run
//! start a second one next to them: the next run finds the job still running and follows
//! it to its end, as if it had started it.
//!
//! A job is four files in a directory on its host, `<name>.pid`, `<name>.log`, `<name>.rc`
//! (written last, atomically: the exit status) and nothing else; the worker is a `sh` in
//! its own session (so `clean` stops it with everything it started, as one process group).
//! Only POSIX sh, `setsid`, `kill`, `tail`, `tr` and `grep` are used: busybox has them all
//! (no `flock` there), so a job runs on any undercloud labwarp can reach.

use crate::host::{Cmd, Host, HostError};
use crate::plan::{HostRole, StepCtx};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Exit status of the launcher when the job is already running.
const ALREADY_RUNNING: i32 = 75;

/// `alive`: the pid file names a live process whose command line holds the job's path
/// (a pid reused after a reboot does not count). Shared by the scripts below.
const ALIVE: &str = r#"alive() { p=$(cat "$1.pid" 2>/dev/null) && [ -n "$p" ] && tr '\000' '\n' < "/proc/$p/cmdline" 2>/dev/null | grep -qxF "$1"; }"#;

/// `sh -c LAUNCH sh DIR NAME ARGV...`: exits 75 when the job runs already; otherwise
/// starts it detached, writes its pid and exits 0.
const LAUNCH: &str = r#"
j="$1/$2"; shift 2
if alive "$j" && [ ! -e "$j.rc" ]; then exit 75; fi
rm -f -- "$j.rc" "$j.rc.tmp" "$j.pid" "$j.pid.tmp"
: > "$j.log"
setsid sh -c 'j=$1; shift; "$@" </dev/null >>"$j.log" 2>&1; echo $? > "$j.rc.tmp"; mv -f "$j.rc.tmp" "$j.rc"' sh "$j" "$@" </dev/null >/dev/null 2>&1 &
echo $! > "$j.pid.tmp" && mv -f "$j.pid.tmp" "$j.pid"
# Until the worker has exec'd (its command line then names the job), `alive` cannot tell it
# from a dead one: a poll in that window would call it gone. Wait for it (10 s at most).
i=0
while ! alive "$j" && [ ! -e "$j.rc" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
"#;

/// `sh -c POLL sh JOB OFFSET`: first line `rc N`, `running` or `gone` (no status and no
/// live worker), then the log from byte OFFSET (1-based).
const POLL: &str = r#"
j=$1
if [ -e "$j.rc" ]; then echo "rc $(cat "$j.rc")"
elif alive "$j"; then echo running
elif [ -e "$j.rc" ]; then echo "rc $(cat "$j.rc")"
else echo gone; fi
tail -c +"$2" "$j.log" 2>/dev/null || true
"#;

/// `sh -c STOP sh JOB`: stops every process of the worker's session (the worker is a
/// session leader, so whatever it started carries its session id, wherever it was
/// reparented) — never of a session whose leader merely reuses the pid file's pid —, TERM
/// first and KILL after 10 s, and waits until none is left; prints
/// `stopped PID` when it stopped something, `left PIDS` (exit 1) when some survived.
/// Zombies are skipped: they run nothing, and a PID 1 that does not reap keeps them.
/// (`kill -- -PGID` is not used: dash and busybox refuse `--` there, which once let the
/// worker's children run on behind a clean.)
const STOP: &str = r#"
j=$1
p=$(cat "$j.pid" 2>/dev/null) || exit 0
case $p in ''|*[!0-9]*) exit 0 ;; esac
# A live process with that pid that is not the worker (a zombie worker still is) holds a
# reused pid (pid_max can be 32768): its session is somebody else's, left alone. A pid
# is never reused while processes of its session live, so with no such process the
# session's members are the job's.
if [ -e "/proc/$p" ] && ! alive "$j"; then
  s=$(cat "/proc/$p/stat" 2>/dev/null) || exit 0
  set -- ${s##*) }
  [ "$1" = Z ] || exit 0
fi
members() {
  for f in /proc/[0-9]*/stat; do
    s=$(cat "$f" 2>/dev/null) || continue
    set -- ${s##*) }
    [ "$1" = Z ] && continue
    [ "$4" = "$p" ] || continue
    n=${f#/proc/}
    echo "${n%/stat}"
  done
}
m=$(members)
[ -n "$m" ] || exit 0
kill -TERM $m 2>/dev/null
i=0
while [ -n "$(members)" ] && [ $i -lt 10 ]; do sleep 1; i=$((i+1)); done
m=$(members)
if [ -n "$m" ]; then
  kill -KILL $m 2>/dev/null
  i=0
  while [ -n "$(members)" ] && [ $i -lt 10 ]; do sleep 1; i=$((i+1)); done
fi
m=$(members)
if [ -n "$m" ]; then echo "processes of the job survived KILL:" $m >&2; exit 1; fi
echo "stopped $p"
"#;

/// One named job in a directory on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub dir: PathBuf,
    pub name: String,
}

/// What a poll saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    Exited(i32),
    Running,
    Gone,
}

impl Job {
    pub fn new(dir: impl Into<PathBuf>, name: &str) -> Job {
        Job {
            dir: dir.into(),
            name: name.to_string(),
        }
    }

    /// The job's path without extension (`<dir>/<name>`).
    pub fn base(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.name))
    }

    fn script(body: &str) -> String {
        format!("{ALIVE}\n{body}")
    }

    /// Runs `cmd` as this job on `role` (or follows the one still running from an earlier
    /// run), streaming its output into the step's log; fails when it exits non-zero.
    pub async fn run(&self, ctx: &StepCtx<'_>, role: HostRole, cmd: &Cmd) -> anyhow::Result<()> {
        let host = ctx.host(role).clone();
        let mkdir = Cmd::new(["mkdir", "-p", "-m", "0700", "--", &text(&self.dir)]);
        let mkdir = if cmd.sudo { mkdir.sudo() } else { mkdir };
        host.exec_ok(&mkdir).await?;
        let mut argv = vec![
            "sh".to_string(),
            "-c".into(),
            Self::script(LAUNCH),
            "sh".into(),
            text(&self.dir),
            self.name.clone(),
        ];
        argv.extend(cmd.argv.iter().cloned());
        let mut launch = Cmd::new(argv);
        launch.sudo = cmd.sudo;
        let out = host.exec(&launch).await?;
        match out.code {
            Some(0) => ctx.info(format!(
                "{}$ {}  (a detached job: its output is {} there; a rerun follows it if labwarp stops)",
                host.name(),
                cmd.to_shell(),
                self.log_path().display()
            )),
            Some(ALREADY_RUNNING) => ctx.info(format!(
                "`{}` from an earlier run is still running on {}: following it instead of starting another (its output: {})",
                cmd.to_shell(),
                host.name(),
                self.log_path().display()
            )),
            _ => anyhow::bail!(
                "could not start `{}` on {}: {}",
                cmd.to_shell(),
                host.name(),
                format!("{}{}", out.stdout_str(), out.stderr_str()).trim()
            ),
        }
        let code = self.follow(ctx, host.as_ref(), cmd.sudo).await?;
        if code != 0 {
            let tail = self.tail(host.as_ref(), cmd.sudo, 5).await;
            anyhow::bail!(
                "`{}` on {} exited with {code}: {}",
                cmd.to_shell(),
                host.name(),
                tail.join(" | ")
            );
        }
        Ok(())
    }

    /// Streams the log until the job's exit status appears; returns it.
    async fn follow(&self, ctx: &StepCtx<'_>, host: &dyn Host, sudo: bool) -> anyhow::Result<i32> {
        // Bytes of the log already sent as whole lines.
        let mut sent: u64 = 0;
        loop {
            let (status, bytes) = self.poll(host, sudo, sent).await?;
            // Whole lines only while the job writes; the rest at its end.
            let upto = match status {
                Status::Running => bytes.iter().rposition(|b| *b == b'\n').map(|i| i + 1),
                _ => Some(bytes.len()),
            }
            .unwrap_or(0);
            for line in String::from_utf8_lossy(&bytes[..upto]).lines() {
                ctx.output(line.to_string());
            }
            sent += upto as u64;
            match status {
                Status::Exited(code) => return Ok(code),
                Status::Gone => anyhow::bail!(
                    "the job {} stopped without an exit status (its host restarted, or it was killed): run again to start it anew",
                    self.base().display()
                ),
                Status::Running => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }

    async fn poll(
        &self,
        host: &dyn Host,
        sudo: bool,
        sent: u64,
    ) -> anyhow::Result<(Status, Vec<u8>)> {
        let mut cmd = Cmd::new([
            "sh".to_string(),
            "-c".into(),
            Self::script(POLL),
            "sh".into(),
            text(&self.base()),
            (sent + 1).to_string(),
        ]);
        cmd.sudo = sudo;
        let out = host.exec(&cmd).await?;
        if !out.success() {
            anyhow::bail!(
                "could not read the job {} on {}: {}",
                self.base().display(),
                host.name(),
                out.stderr_str().trim()
            );
        }
        let nl = out
            .stdout
            .iter()
            .position(|b| *b == b'\n')
            .unwrap_or(out.stdout.len());
        let first = String::from_utf8_lossy(&out.stdout[..nl])
            .trim()
            .to_string();
        let rest = out.stdout.get(nl + 1..).unwrap_or_default().to_vec();
        let status = match first.as_str() {
            "running" => Status::Running,
            "gone" => Status::Gone,
            s => match s.strip_prefix("rc ").and_then(|c| c.trim().parse().ok()) {
                Some(c) => Status::Exited(c),
                None => anyhow::bail!("unexpected job status from {}: {first:?}", host.name()),
            },
        };
        Ok((status, rest))
    }

    async fn tail(&self, host: &dyn Host, sudo: bool, n: usize) -> Vec<String> {
        let mut cmd = Cmd::new(["tail", "-n", &n.to_string(), "--", &text(&self.log_path())]);
        cmd.sudo = sudo;
        match host.exec(&cmd).await {
            Ok(o) => o.stdout_str().lines().map(str::to_string).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Whether any of the job's files exist.
    pub async fn exists(&self, host: &dyn Host) -> Result<bool, HostError> {
        for ext in ["pid", "log", "rc"] {
            if host.exists(&self.with_ext(ext)).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn with_ext(&self, ext: &str) -> PathBuf {
        self.dir.join(format!("{}.{ext}", self.name))
    }

    /// Stops the worker and what it started (its process group), then removes the job's
    /// files. Returns what it did, for the clean's narration.
    pub async fn stop_and_remove(&self, host: &dyn Host) -> anyhow::Result<Vec<String>> {
        let mut did = Vec::new();
        let stop = Cmd::new([
            "sh".to_string(),
            "-c".into(),
            Self::script(STOP),
            "sh".into(),
            text(&self.base()),
        ])
        .sudo();
        let out = host.exec_ok(&stop).await?;
        if let Some(pid) = out.trim().strip_prefix("stopped ") {
            did.push(format!(
                "stopped job {} (every process of its session {pid})",
                self.base().display()
            ));
        }
        let files: Vec<PathBuf> = ["pid", "pid.tmp", "log", "rc", "rc.tmp"]
            .iter()
            .map(|e| self.with_ext(e))
            .collect();
        let mut rm = Cmd::new(["rm", "-f", "--"]);
        rm.argv.extend(files.iter().map(|f| text(f)));
        host.exec_ok(&rm.sudo()).await?;
        did.push(format!("removed job files {}.*", self.base().display()));
        Ok(did)
    }
}

fn text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Where a lab's jobs live on the undercloud: a directory in the stack user's home.
pub fn jobs_dir(home: &Path) -> PathBuf {
    home.join(".labwarp-jobs")
}

#[cfg(test)]
mod tests {
    use super::Job;
    use crate::host::LocalHost;
    use std::process::{Child, Command};

    /// A session leader (`setsid` execs in place: the test's child leads no group).
    fn session_leader(argv: &[&str]) -> Child {
        Command::new("setsid").args(argv).spawn().expect("setsid")
    }

    fn running(c: &mut Child) -> bool {
        c.try_wait().unwrap().is_none()
    }

    #[tokio::test]
    async fn stop_leaves_a_session_whose_leader_only_reuses_the_jobs_pid() {
        let dir = tempfile::tempdir().unwrap();
        let job = Job::new(dir.path(), "install");
        // The pid file names a live session leader that is not the job's worker (as after
        // the worker ended and its pid was handed out again).
        let mut other = session_leader(&["sleep", "60"]);
        std::fs::write(job.with_ext("pid"), format!("{}\n", other.id())).unwrap();
        let did = job.stop_and_remove(&LocalHost::new()).await.unwrap();
        assert!(running(&mut other), "another session was stopped: {did:?}");
        assert!(!did.iter().any(|d| d.starts_with("stopped")), "{did:?}");
        assert!(
            !job.with_ext("pid").exists(),
            "the job's files go all the same"
        );
        other.kill().unwrap();
        other.wait().unwrap();
    }

    #[tokio::test]
    async fn stop_ends_the_jobs_own_session() {
        let dir = tempfile::tempdir().unwrap();
        let job = Job::new(dir.path(), "install");
        // The worker's command line names the job's path, as the launcher's does.
        let base = job.base().to_string_lossy().into_owned();
        let mut worker = session_leader(&["sh", "-c", "sleep 60", "sh", &base]);
        std::fs::write(job.with_ext("pid"), format!("{}\n", worker.id())).unwrap();
        let did = job.stop_and_remove(&LocalHost::new()).await.unwrap();
        assert!(
            did.iter()
                .any(|d| d.starts_with("stopped job") && d.contains(&worker.id().to_string())),
            "{did:?}"
        );
        assert!(!running(&mut worker), "the job's worker still runs");
    }
}
