//! Prints the generated OpenAPI document. Refresh the committed copy with
//! `cargo run -p ferry-server --example openapi > crates/ferry-server/openapi.json`.

use std::process::ExitCode;

fn main() -> ExitCode {
    match ferry_server::openapi::to_json() {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
