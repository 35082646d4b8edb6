fn main() {
    std::process::exit(m4host::run(std::env::args_os().collect()));
}
