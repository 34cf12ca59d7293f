//! Writes the fuzzer's seeds into the folder given: every sample, and every
//! pathological case at 1 KB and 8 KB. Run by `scripts/fuzz`.

#[path = "../tests/support/pathological.rs"]
#[allow(dead_code)] // The expected shapes are the linearity test's.
mod pathological;
#[path = "../tests/support/samples.rs"]
mod samples;

fn main() -> std::io::Result<()> {
    let folder = std::path::PathBuf::from(std::env::args().nth(1).expect("a folder to write to"));
    std::fs::create_dir_all(&folder)?;
    for (index, sample) in samples::SAMPLES.iter().enumerate() {
        std::fs::write(folder.join(format!("sample-{index:03}")), sample)?;
    }
    for (index, case) in pathological::CASES.iter().enumerate() {
        for bytes in [1024, 8 * 1024] {
            std::fs::write(folder.join(format!("case-{index:02}-{bytes}")), (case.build)(bytes))?;
        }
    }
    Ok(())
}
