//! pqike: control CLI for pqiked, plus an in-process demo.
use clap::{Parser, Subcommand};
use pqike_daemon::config::{DEFAULT_CONTROL_SOCKET, DEFAULT_IKE_PROPOSAL};
use pqike_daemon::control::{format_status, request, transforms_line, Request};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Control pqiked over its Unix socket, or run a self-contained demo handshake.
#[derive(Parser)]
#[command(name = "pqike", version)]
struct Args {
    /// pqiked's control socket.
    #[arg(long, short = 's', global = true, value_name = "PATH", default_value = DEFAULT_CONTROL_SOCKET)]
    socket: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List IKE SAs and their Child SAs.
    Status {
        /// Print JSON instead of the listing.
        #[arg(long)]
        json: bool,
    },
    /// Daemon-wide statistics only (SAs up, rekeys, down reasons, RSS); cheap to poll.
    Stats {
        /// Print JSON instead of the text block.
        #[arg(long)]
        json: bool,
    },
    /// Initiate a connection and wait until it is established or has failed.
    Up {
        /// Connection name.
        name: String,
        /// Seconds to wait.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Delete the IKE SAs (and Child SAs) of a connection.
    Down {
        /// Connection name.
        name: String,
    },
    /// Generate a test PKI (root, intermediates, end-entities) of one key type, including
    /// ML-DSA and SLH-DSA: `pqike pki --out DIR --type mldsa65 --ee a.example --ee b.example`.
    Pki {
        /// Output directory (lab/pki.sh layout: ca.pem, int1.pem.., NAME.pem, *.key.pem).
        #[arg(long)]
        out: PathBuf,
        /// Key type: mldsa44/65/87, slh-dsa-sha2-128s (.. shake-256f), ecdsa-p256/p384/p521,
        /// ed25519, rsa2048/3072/4096.
        #[arg(long = "type", default_value = "mldsa65")]
        key_type: String,
        /// Number of intermediate CAs.
        #[arg(long, default_value_t = 1)]
        intermediates: usize,
        /// End-entity name (CN and dNSName); repeat for several.
        #[arg(long = "ee", required = true)]
        ee: Vec<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
    /// Run the interop matrix against real peers (root; runs `pqike-lab`, see crates/pqike-lab).
    #[command(disable_help_flag = true)]
    Interop {
        /// Options of pqike-lab: --filter, --peer, --ci, --out, --list, --keep-pcap, --help.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run an initiator and a responder in this process over loopback UDP and show the handshake.
    Demo {
        /// IKE proposal (strongSwan syntax), e.g. aes256gcm16-prfsha384-mlkem768.
        #[arg(long, default_value = DEFAULT_IKE_PROPOSAL)]
        proposal: String,
        /// ESP proposal for the Child SA.
        #[arg(long, default_value = "aes256gcm16")]
        esp_proposal: String,
        /// Also print engine debug logs.
        #[arg(long)]
        verbose: bool,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.cmd {
        Cmd::Status { json } => {
            match request(&args.socket, &Request::Status, Duration::from_secs(10)) {
                Ok(r) if r.ok => {
                    let sas = r.ike_sas.unwrap_or_default();
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({ "ike_sas": sas, "statistics": r.statistics })
                        );
                    } else {
                        print!("{}", format_status(&sas));
                        if let Some(st) = &r.statistics {
                            print!("{}", pqike_daemon::control_stats::format_stats(st));
                        }
                    }
                    ExitCode::SUCCESS
                }
                Ok(r) => fail(&r.error.unwrap_or_default()),
                Err(e) => fail(&e),
            }
        }
        Cmd::Stats { json } => {
            match request(&args.socket, &Request::Stats, Duration::from_secs(10)) {
                Ok(r) if r.ok => {
                    let st = r.statistics.unwrap_or_default();
                    if json {
                        println!("{}", serde_json::json!(st));
                    } else {
                        print!("{}", pqike_daemon::control_stats::format_stats(&st));
                    }
                    ExitCode::SUCCESS
                }
                Ok(r) => fail(&r.error.unwrap_or_default()),
                Err(e) => fail(&e),
            }
        }
        Cmd::Up { name, timeout } => {
            println!("initiating {name} ...");
            match request(
                &args.socket,
                &Request::Up { name: name.clone() },
                Duration::from_secs(timeout),
            ) {
                Ok(r) if r.ok => {
                    if let Some(m) = &r.message {
                        println!("{m}");
                    }
                    if let Some(sa) = &r.ike_sa {
                        println!(
                            "IKE SA {}[{}] established between {} [{}] and {} [{}]",
                            sa.name, sa.id, sa.local, sa.local_id, sa.remote, sa.remote_id
                        );
                        println!("  IKE    {}", transforms_line(&sa.transforms));
                        for c in &sa.child_sas {
                            println!(
                                "  child  {} {}_i {}_o {}",
                                c.name, c.spi_in, c.spi_out, c.encr
                            );
                        }
                    }
                    ExitCode::SUCCESS
                }
                Ok(r) => fail(&format!("{name} failed: {}", r.error.unwrap_or_default())),
                Err(e) => fail(&format!("{name}: {e}")),
            }
        }
        Cmd::Down { name } => match request(
            &args.socket,
            &Request::Down { name },
            Duration::from_secs(10),
        ) {
            Ok(r) if r.ok => {
                println!("{}", r.message.unwrap_or_default());
                ExitCode::SUCCESS
            }
            Ok(r) => fail(&r.error.unwrap_or_default()),
            Err(e) => fail(&e),
        },
        Cmd::Pki {
            out,
            key_type,
            intermediates,
            ee,
            days,
        } => {
            let key = match pqike_daemon::pki_cmd::parse_key_type(&key_type) {
                Ok(k) => k,
                Err(e) => return fail(&e),
            };
            match pqike_daemon::pki_cmd::run(&pqike_daemon::pki_cmd::PkiOptions {
                out: &out,
                key,
                intermediates,
                end_entities: &ee,
                days,
            }) {
                Ok(summary) => {
                    println!("{summary}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Cmd::Interop { args } => interop(&args),
        Cmd::Demo {
            proposal,
            esp_proposal,
            verbose,
        } => {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return fail(&e.to_string()),
            };
            match rt.block_on(pqike_daemon::demo::run(&proposal, &esp_proposal, verbose)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("pqike: {msg}");
    ExitCode::FAILURE
}

/// `pqike interop ...`: exec pqike-lab (next to this binary, else from PATH).
fn interop(args: &[String]) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let lab = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("pqike-lab")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("pqike-lab"));
    let err = std::process::Command::new(&lab).args(args).exec();
    fail(&format!(
        "{}: {err} (cargo build --release -p pqike-lab)",
        lab.display()
    ))
}
