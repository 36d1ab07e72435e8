//! A user's terminal on a simulated cluster: the `karpenter-ovhcloud sim` or `demo --keep`
//! process in the background, and command lines typed into a shell that sourced its env file.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// A process started by a test, killed when the test ends, however it ends.
pub struct Background {
    /// The process.
    pub child: Child,
    /// Its stdout lines, as they come.
    pub lines: Receiver<String>,
    /// Its stderr lines, as they come.
    pub errors: Receiver<String>,
    /// The lines read so far by [`Background::wait_for`].
    pub printed: Vec<String>,
}

impl Background {
    /// Starts `cmd` with stdout and stderr read line by line (stdin null).
    pub fn spawn(cmd: &mut Command) -> Background {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = read_lines(child.stdout.take().unwrap());
        let errors = read_lines(child.stderr.take().unwrap());
        Background {
            child,
            lines,
            errors,
            printed: Vec::new(),
        }
    }

    /// Waits (at most `timeout`) for the process to exit: its status, stdout and stderr.
    pub fn finish(mut self, timeout: Duration) -> (std::process::ExitStatus, String, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "still running after {timeout:?}");
            std::thread::sleep(Duration::from_millis(200));
        };
        // The reader threads end with the pipes.
        let stdout = self.lines.iter().map(|l| l + "\n").collect();
        let stderr = self.errors.iter().map(|l| l + "\n").collect();
        (status, stdout, stderr)
    }

    /// Reads stdout until a line contains `marker` (within `timeout`); the test fails with
    /// what was printed otherwise.
    pub fn wait_for(&mut self, marker: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.printed.iter().any(|l| l.contains(marker)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.printed.push(l),
                Err(_) => panic!(
                    "no line with {marker:?} within {timeout:?}:\n{}",
                    self.printed.join("\n")
                ),
            }
        }
    }
}

/// Lines of `reader`, sent as they come.
fn read_lines(reader: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a command line printed, and how it exited.
#[derive(Debug)]
pub struct Ran {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// A shell as a user has it after `source`-ing the env file: nothing but its variables,
/// `HOME`, and a plain `PATH` (with `bin` first when set), in `cwd`.
pub struct UserShell {
    env: Vec<(String, String)>,
    home: PathBuf,
    cwd: PathBuf,
    bin: Option<PathBuf>,
    editor: Option<String>,
}

impl UserShell {
    /// A shell with `env`, `HOME=home`, in `cwd`.
    pub fn new(env: &[(String, String)], home: &Path, cwd: &Path) -> UserShell {
        UserShell {
            env: env.to_vec(),
            home: home.to_path_buf(),
            cwd: cwd.to_path_buf(),
            bin: None,
            editor: None,
        }
    }

    /// `karpenter-ovhcloud` on the `PATH`, as an installed binary is (a link in `home/bin`).
    pub fn with_binary(mut self) -> UserShell {
        let bin = self.home.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let link = bin.join("karpenter-ovhcloud");
        if !link.exists() {
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_karpenter-ovhcloud"), &link).unwrap();
        }
        self.bin = Some(bin);
        self
    }

    /// `KUBE_EDITOR` set to `editor` (what `kubectl edit` runs on the file).
    pub fn with_editor(mut self, editor: &str) -> UserShell {
        self.editor = Some(editor.to_string());
        self
    }

    /// Runs `line` with `sh -c`.
    pub fn run(&self, line: &str) -> Ran {
        let path = match &self.bin {
            Some(bin) => format!("{}:/usr/bin:/bin", bin.display()),
            None => "/usr/bin:/bin".to_string(),
        };
        let mut cmd = super::user_command("/bin/sh", &self.env, &self.home);
        cmd.env("PATH", path)
            .args(["-c", line])
            .current_dir(&self.cwd);
        if let Some(editor) = &self.editor {
            cmd.env("KUBE_EDITOR", editor);
        }
        let out = cmd.output().unwrap();
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `line`: its stdout; the test fails on a non-zero exit or on a warning or an error
    /// on stderr.
    pub fn ok(&self, line: &str) -> String {
        let r = self.run(line);
        assert!(
            r.code == 0,
            "`{line}` exited {}: {}{}",
            r.code,
            r.stdout,
            r.stderr
        );
        assert!(
            !r.stderr.contains("Warning") && !r.stderr.contains("error"),
            "`{line}`: {}",
            r.stderr
        );
        r.stdout
    }

    /// Repeats `line` (at most two minutes) until its output satisfies `done`.
    pub fn until(&self, line: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let out = self.ok(line);
            if done(&out) {
                return out;
            }
            assert!(Instant::now() < deadline, "{what}: last `{line}`:\n{out}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
