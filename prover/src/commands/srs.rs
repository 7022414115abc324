//! `zkinfer srs`: make, import and downsize KZG structured reference strings.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use zkinfer_circuits::srs::Srs;

use crate::progress::spinner;

/// Arguments of `zkinfer srs`.
#[derive(Args)]
pub struct SrsArgs {
    #[command(subcommand)]
    command: SrsCommand,
}

#[derive(Subcommand)]
enum SrsCommand {
    /// Generate an INSECURE SRS from a public seed (tests and demos only: anyone can forge proofs).
    Dev {
        /// log2 of the number of powers (the largest circuit it serves has 2^k rows).
        #[arg(long)]
        k: u32,
        /// Output file.
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Convert a snarkjs / Perpetual Powers of Tau `.ptau` file (BN254) to the zkinfer SRS format.
    Import {
        /// The .ptau file.
        ptau: PathBuf,
        /// Output file.
        #[arg(short, long)]
        out: PathBuf,
        /// Keep only the first 2^k powers (default: all of them).
        #[arg(long)]
        k: Option<u32>,
    },
    /// Cut an SRS file down to 2^k powers.
    Downsize {
        /// The SRS file (zkinfer format or a bare halo2 ParamsKZG file).
        srs: PathBuf,
        /// The smaller k.
        #[arg(long)]
        k: u32,
        /// Output file.
        #[arg(short, long)]
        out: PathBuf,
    },
}

/// The loud warning printed wherever the INSECURE dev SRS is used.
pub const INSECURE_WARNING: &str = "WARNING: INSECURE dev SRS (its secret is public): proofs made with it can be forged; use `zkinfer srs import` for real use";

/// Runs `zkinfer srs`.
pub fn run(a: SrsArgs) -> Result<()> {
    match a.command {
        SrsCommand::Dev { k, out } => {
            let pb = spinner(&format!("generating an INSECURE dev SRS of 2^{k} powers"));
            let srs = Srs::dev(k).context("[srs] generating")?;
            pb.finish_and_clear();
            srs.write(&out).context("[srs] writing")?;
            eprintln!("{INSECURE_WARNING}");
            println!("wrote {} (k = {k}, INSECURE)", out.display());
        }
        SrsCommand::Import { ptau, out, k } => {
            let pb = spinner(&format!("importing {}", ptau.display()));
            let srs = Srs::import_ptau(&ptau, k).context("[srs] importing the .ptau file")?;
            pb.finish_and_clear();
            srs.write(&out).context("[srs] writing")?;
            println!("wrote {} (k = {}; points checked on curve and as powers of one tau)", out.display(), srs.k());
        }
        SrsCommand::Downsize { srs, k, out } => {
            let s = Srs::read(&srs).context("[srs] reading")?;
            let d = s.downsized(k).context("[srs] downsizing")?;
            d.write(&out).context("[srs] writing")?;
            if d.insecure {
                eprintln!("{INSECURE_WARNING}");
            }
            println!("wrote {} (k = {k}, from k = {})", out.display(), s.k());
        }
    }
    Ok(())
}
