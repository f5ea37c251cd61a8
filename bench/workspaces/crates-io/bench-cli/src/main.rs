use clap::Parser;
use rand::Rng;

/// Scores some words and prints a summary.
#[derive(Parser)]
struct Args {
    /// Text whose words become records.
    #[arg(default_value = "the quick brown fox jumps over the lazy dog")]
    text: String,
    /// Seed-free random scores when set.
    #[arg(long)]
    random: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    env_logger::init();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(4);
    tokio::spawn(async move { tx.send(42).await.ok() });
    log::debug!("worker answered {:?}", rx.recv().await);
    let args = Args::parse();
    let config: toml::Table = toml::from_str("[report]\nprefix = \"summary\"\n")?;
    let prefix = config["report"]["prefix"].as_str().unwrap_or("summary");
    log::info!("started at {}", bench_core::now_epoch_seconds());
    let mut rng = rand::rng();
    let records: Vec<_> = bench_text::words(&args.text)
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let score = if args.random { rng.random_range(0..100) } else { i as u64 };
            bench_core::record(w, score)
        })
        .collect();
    let json = serde_json_roundtrip(&records)?;
    println!("{prefix}: {}", bench_core::summary(&json)?);
    Ok(())
}

fn serde_json_roundtrip(records: &[bench_core::Record]) -> anyhow::Result<Vec<bench_core::Record>> {
    let text = format!(
        "[{}]",
        records
            .iter()
            .map(|r| format!(r#"{{"name":"{}","score":{},"tags":[]}}"#, r.name, r.score))
            .collect::<Vec<_>>()
            .join(",")
    );
    Ok(bench_core::parse_records(&text)?)
}
