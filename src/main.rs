use std::process::ExitCode;

/// Exit codes: 0 success (for `compare` and `verify`: same person / verified), 1 a clear "no"
/// from `compare` or `verify`, 2 an error (bad input, missing file, unreachable gallery), as
/// `cmp` and `grep` do, so scripts can tell a refusal from a failure.
fn main() -> ExitCode {
    match siamface::cli::run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
