//! The `hairtrigger` command line; everything lives in [`hairtrigger::cli`].

fn main() -> std::process::ExitCode {
    hairtrigger::alloc::retain_freed_memory();
    hairtrigger::cli::main()
}
