//! pqike-lab: the interop lab behind `pqike interop`.
//!
//! Model: scenario files (`interop/*.toml`, see [`scenario`]) list cases; every case runs
//! against every selected peer ([`peers`]) with pqike as initiator and as responder. Each
//! cell gets a fresh three-namespace network ([`net`]: initiator | router with NAT and the
//! NFQUEUE impairment stage of [`impair`] | responder), real daemons, a capture and the
//! analysis of [`evidence`]; [`matrix`] writes `matrix.md` / `matrix.json`.
//!
//! Call order per cell: `Lab::up` -> peer.configure/start -> pqike configure/start ->
//! capture -> initiator.initiate -> status of both -> stop both -> `Lab::down` -> evidence.
//! Needs root. Namespaces are `<prefix>L/N/R` (default prefix `mx`, distinct from
//! tests/interop/run.sh's `pqA`/`pqB`); per-run state lives in `$PQIKE_LAB_RUN`
//! (default /tmp/pqike-matrix), separate from run.sh's /tmp/pqike-lab.
mod evidence;
mod impair;
mod matrix;
mod net;
mod peers;
mod run;
mod scenario;

use clap::{Parser, Subcommand};
use peers::Driver;
use run::{CellResult, Outcome, Runner};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Run the interop matrix (pqike against strongSwan, libreswan, OpenIKED and pqiked itself) and write
/// matrix.md / matrix.json with per-cell evidence.
#[derive(Parser)]
#[command(name = "pqike-lab", args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Directory of scenario files.
    #[arg(long, default_value = "interop")]
    scenarios: PathBuf,
    /// Output directory (matrix.md, matrix.json, evidence/).
    #[arg(long, default_value = "/tmp/pqike-matrix/out")]
    out: PathBuf,
    /// Only cells whose id (set.case.peer.role) contains one of these substrings.
    #[arg(long)]
    filter: Vec<String>,
    /// Only this peer (id or prefix, e.g. strongswan-6.1.0, libreswan).
    #[arg(long)]
    peer: Vec<String>,
    /// Only the CI subset (cases marked ci = true).
    #[arg(long)]
    ci: bool,
    /// List the cells and exit.
    #[arg(long)]
    list: bool,
    /// Keep the pcap files in the evidence (large for certificate cases).
    #[arg(long)]
    keep_pcap: bool,
    /// Where pqiked and pqike are (copied before the run).
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Merge into an existing matrix.json in --out: re-run cells replace their old rows,
    /// the others are kept (e.g. re-run the rows of a feature that just landed).
    #[arg(long)]
    merge: bool,
    /// Namespace prefix.
    #[arg(long, default_value = "mx")]
    prefix: String,
}

#[derive(Subcommand)]
enum Cmd {
    /// (internal) the impairment stage, run inside the router namespace.
    #[command(hide = true)]
    Impair {
        #[arg(long)]
        queue: u16,
        #[arg(long)]
        loss: f64,
        #[arg(long)]
        delay_ms: u64,
        #[arg(long)]
        jitter_ms: u64,
        #[arg(long)]
        dup: f64,
        #[arg(long)]
        seed: u64,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Cmd::Impair {
        queue,
        loss,
        delay_ms,
        jitter_ms,
        dup,
        seed,
    }) = args.cmd
    {
        let spec = impair::ImpairSpec {
            queue,
            loss,
            delay_ms,
            jitter_ms,
            dup,
            seed,
        };
        return match impair::run(&spec) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("impair: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match run_matrix(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pqike-lab: {e}");
            ExitCode::from(2)
        }
    }
}

fn repo_root() -> PathBuf {
    let mut d = std::env::current_dir().unwrap_or_default();
    loop {
        if d.join("lab/common.sh").exists() {
            return d;
        }
        if !d.pop() {
            return std::env::current_dir().unwrap_or_default();
        }
    }
}

fn run_matrix(args: &Args) -> Result<ExitCode, String> {
    let repo = repo_root();
    let abs = |p: &PathBuf| {
        if p.is_absolute() {
            p.clone()
        } else {
            repo.join(p)
        }
    };
    let sets = scenario::load_dir(&abs(&args.scenarios))?;
    let run_dir = PathBuf::from(
        std::env::var("PQIKE_LAB_RUN").unwrap_or_else(|_| "/tmp/pqike-matrix".into()),
    );
    let bin_copy = run_dir.join("bin");
    let peers = peers::all_peers(&repo, &bin_copy);
    let selected = |p: &dyn Driver| {
        args.peer.is_empty() || args.peer.iter().any(|x| p.id().starts_with(x.as_str()))
    };

    // the cell list
    let pqike = peers::pqiked::Pqiked::new(&repo, bin_copy.clone());
    let mut cells: Vec<(usize, usize, &dyn Driver, scenario::Role)> = Vec::new();
    for (si, s) in sets.iter().enumerate() {
        for (ci, c) in s.cases.iter().enumerate() {
            if args.ci && !c.ci {
                continue;
            }
            for p in &peers {
                if !selected(p.as_ref()) {
                    continue;
                }
                if let Some(list) = &c.peers {
                    if !list.iter().any(|x| p.id().starts_with(x.as_str())) {
                        continue;
                    }
                }
                for role in c.roles() {
                    let id = format!("{}.{}.{}.{}", s.set.name, c.id, p.id(), role.as_str());
                    if !args.filter.is_empty()
                        && !args.filter.iter().any(|f| id.contains(f.as_str()))
                    {
                        continue;
                    }
                    cells.push((si, ci, p.as_ref(), role));
                }
            }
        }
    }
    if args.list {
        let mut o = std::io::stdout().lock();
        for (si, ci, p, role) in &cells {
            // a closed pipe (| head) just ends the listing
            if writeln!(
                o,
                "{}.{}.{}.{}",
                sets[*si].set.name,
                sets[*si].cases[*ci].id,
                p.id(),
                role.as_str()
            )
            .is_err()
            {
                break;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    // namespaces, mounts and NFQUEUE need root
    let uid = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if uid != "0" {
        return Err("must run as root (network namespaces, mounts, NFQUEUE)".into());
    }
    std::fs::create_dir_all(&bin_copy).map_err(|e| e.to_string())?;
    let src_bins = abs(&args.bin_dir);
    // run copies: a concurrent cargo build must not swap the binaries between cells
    for b in ["pqiked", "pqike"] {
        std::fs::copy(src_bins.join(b), bin_copy.join(b)).map_err(|e| {
            format!(
                "{}: {e} (cargo build --release)",
                src_bins.join(b).display()
            )
        })?;
    }
    let pki = std::process::Command::new(repo.join("lab/pki.sh"))
        .arg(run_dir.join("pki"))
        .output()
        .map_err(|e| e.to_string())?;
    if !pki.status.success() {
        return Err(format!(
            "lab/pki.sh failed: {}",
            String::from_utf8_lossy(&pki.stderr)
        ));
    }
    // PQ certificate chains (auth = "mldsa" or any `pqike pki --type`): lab/pki.sh uses
    // openssl, which cannot make them here; `pqike pki` writes the same layout
    let mut pq_chains: Vec<&str> = cells
        .iter()
        .map(|(si, ci, _, _)| sets[*si].cases[*ci].auth.as_str())
        .filter(|a| !["psk", "ecdsa", "rsa"].contains(a))
        .collect();
    pq_chains.sort();
    pq_chains.dedup();
    for chain in pq_chains {
        let dir = run_dir.join("pki").join(chain);
        if dir.join(".complete").exists() {
            continue;
        }
        let key_type = if chain == "mldsa" { "mldsa65" } else { chain };
        let o = std::process::Command::new(bin_copy.join("pqike"))
            .arg("pki")
            .arg("--out")
            .arg(&dir)
            .args(["--type", key_type, "--intermediates", "1"])
            .args(["--ee", "a.example", "--ee", "b.example"])
            .output()
            .map_err(|e| e.to_string())?;
        if !o.status.success() {
            return Err(format!(
                "pqike pki --type {key_type} failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        std::fs::write(dir.join(".complete"), "").map_err(|e| e.to_string())?;
    }
    let out = abs(&args.out);
    std::fs::create_dir_all(out.join("evidence")).map_err(|e| e.to_string())?;
    let runner = Runner {
        repo: repo.clone(),
        run_dir: run_dir.clone(),
        out_dir: out.clone(),
        self_exe: std::env::current_exe().map_err(|e| e.to_string())?,
        prefix: args.prefix.clone(),
        keep_pcap: args.keep_pcap,
    };
    let mut avail: HashMap<&str, Result<(), String>> = HashMap::new();
    let t0 = Instant::now();
    let mut rows: Vec<CellResult> = Vec::new();
    let total = cells.len();
    for (n, (si, ci, peer, role)) in cells.iter().enumerate() {
        let set = &sets[*si];
        let case = &set.cases[*ci];
        let mut r = run::row(&set.set.name, case, &pqike, *peer, *role);
        let a = avail
            .entry(peer.id())
            .or_insert_with(|| peer.available())
            .clone();
        if let Err(why) = a {
            r.outcome = Outcome::NotRunnable;
            r.detail = why;
        } else if let Err(why) = peer.supports(case, *role) {
            r.outcome = Outcome::NotSupportedByPeer;
            r.detail = why;
        } else if let Err(why) = pqike.implements(case) {
            r.outcome = Outcome::NotImplementedInPqike;
            r.detail = why;
        } else {
            print!("[{:>3}/{total}] {:<70} ", n + 1, r.id);
            let _ = std::io::stdout().flush();
            runner.run(case, &pqike, *peer, *role, &mut r);
            println!(
                "{:<5} {:>5.1}s  {}",
                r.outcome.label(),
                r.seconds,
                short(&r.detail)
            );
            rows.push(r);
            continue;
        }
        println!(
            "[{:>3}/{total}] {:<70} {}: {}",
            n + 1,
            r.id,
            r.outcome.label(),
            short(&r.detail)
        );
        rows.push(r);
    }
    let mut elapsed = t0.elapsed().as_secs_f64();
    if args.merge {
        if let Ok(text) = std::fs::read_to_string(out.join("matrix.json")) {
            let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            let old: Vec<CellResult> =
                serde_json::from_value(doc["cells"].clone()).map_err(|e| e.to_string())?;
            elapsed += doc["elapsed_seconds"].as_f64().unwrap_or(0.0);
            let mut merged: Vec<CellResult> = Vec::new();
            for o in old {
                match rows.iter().position(|r| r.id == o.id) {
                    Some(i) => merged.push(rows.remove(i)),
                    None => merged.push(o),
                }
            }
            merged.append(&mut rows);
            rows = merged;
        }
    }
    let set_info: Vec<(String, String)> = sets
        .iter()
        .map(|s| (s.set.name.clone(), s.set.description.clone()))
        .collect();
    // the command that regenerates this matrix (a merged one: the full run)
    let mut cmd = String::from("pqike interop");
    for a in std::env::args().skip(1).filter(|a| a != "--merge") {
        cmd.push(' ');
        cmd.push_str(&a);
    }
    if args.merge {
        cmd = format!("pqike interop --out {}", args.out.display());
    }
    std::fs::write(
        out.join("matrix.md"),
        matrix::markdown(&rows, &cmd, elapsed, &set_info),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(out.join("matrix.json"), matrix::json(&rows, &cmd, elapsed))
        .map_err(|e| e.to_string())?;
    let s = matrix::summary(&rows);
    println!(
        "\n{s} ({} cells in {:.0} s); matrix in {}",
        rows.len(),
        elapsed,
        out.join("matrix.md").display()
    );
    Ok(if s.red > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn short(s: &str) -> String {
    let s: String = s.chars().take(110).collect();
    s
}
