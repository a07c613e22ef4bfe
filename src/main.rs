use std::process::ExitCode;

fn main() -> ExitCode {
    match siamface::cli::run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
