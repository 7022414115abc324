//! The persistent job store: SQLite in WAL mode, one row per job.
//!
//! A job is written (and fsynced by SQLite) before `SubmitJob` answers, so an
//! acknowledged job survives a crash. States move
//! `queued → proving → proved → (submitted → settled) | failed | cancelled`;
//! jobs found in `proving` when the node starts were interrupted by a crash
//! and go back to `queued` ([`JobStore::requeue_interrupted`]).
//!
//! Faults: the store is checked with `PRAGMA quick_check` when opened, and
//! every write that fails for want of space or because of an I/O error marks
//! it unhealthy ([`JobStore::health`]) until a probe write of
//! [`PROBE_BYTES`] succeeds ([`JobStore::probe`]); a corrupted store stays
//! unhealthy. Beside `jobs.db`, `jobs.acked` holds the sequence number of the
//! newest acknowledged job: a store that lost jobs it acknowledged (its
//! write-ahead log truncated or removed) is found when opened
//! ([`JobStore::lost_jobs`]).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256, U256};
use halo2curves::bn256::Fr;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use tokio::sync::watch;
use zkinfer_circuits::encoding::{fr_from_hex, fr_to_hex, strip_0x};

/// Bytes written (then deleted) by [`JobStore::probe`]: more than a stored proof
/// of the models we serve takes, so a store that passes the probe can take a proof.
pub const PROBE_BYTES: usize = 256 * 1024;

/// A job's state (the numbers are the proto's `JobState`, and what the store keeps).
///
/// The moves a job can make are [`JobState::may_become`]'s table; every
/// store operation that changes a state names the states it moves from, and
/// a test checks each of them against the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for a worker.
    Queued = 1,
    /// A worker is proving it.
    Proving = 2,
    /// The proof is ready.
    Proved = 3,
    /// The proof was sent to the chain.
    Submitted = 4,
    /// The chain accepted it and paid.
    Settled = 5,
    /// Proving or submitting failed (see `error`).
    Failed = 6,
    /// Cancelled before it was proved.
    Cancelled = 7,
}

impl JobState {
    /// From the stored (or proto) number; `None` for a number no state has.
    pub fn from_i64(v: i64) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| *s as i64 == v)
    }

    /// Lower-case name (`queued`, `proving`, ...): the one spelling of the
    /// states for logs, metrics, the status page and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Proving => "proving",
            JobState::Proved => "proved",
            JobState::Submitted => "submitted",
            JobState::Settled => "settled",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Whether no worker will touch the job again (a proved job may still be
    /// submitted by the chain watcher, but its proof is final; see
    /// [`JobRecord::is_done`]).
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Proved | JobState::Settled | JobState::Failed | JobState::Cancelled)
    }

    /// Whether a job in this state may move to `to`:
    ///
    /// | from | to |
    /// |---|---|
    /// | queued | proving (a worker takes it), cancelled, failed (its input cannot be proved) |
    /// | proving | proved, queued (its proof could not be stored; a crash), cancelled, failed |
    /// | proved | submitted (chain jobs), failed (the submission failed; the posting is gone) |
    /// | submitted | submitted (again, after a crash), settled, failed, proved (a reorganization undid it) |
    /// | settled | proved (a reorganization undid the settlement), failed (the posting is gone) |
    /// | failed | failed (a reorganization orphaned it again: the reason is replaced) |
    /// | cancelled | — |
    pub fn may_become(self, to: JobState) -> bool {
        use JobState::*;
        match self {
            Queued => matches!(to, Proving | Cancelled | Failed),
            Proving => matches!(to, Proved | Queued | Cancelled | Failed),
            Proved => matches!(to, Submitted | Failed),
            Submitted => matches!(to, Submitted | Settled | Failed | Proved),
            Settled => matches!(to, Proved | Failed),
            Failed => matches!(to, Failed),
            Cancelled => false,
        }
    }

    /// All states, in order.
    pub const ALL: [JobState; 7] = [
        JobState::Queued,
        JobState::Proving,
        JobState::Proved,
        JobState::Submitted,
        JobState::Settled,
        JobState::Failed,
        JobState::Cancelled,
    ];
}

/// The moves of the store's operations: (operation, from, to), for the test that checks
/// every row against [`JobState::may_become`]. The operations that move from several
/// states take them from the constants below in their SQL; the others name their one
/// from-state as a parameter.
#[cfg(test)]
const MOVES: [(&str, &[JobState], JobState); 11] = [
    ("claim_next", &[JobState::Queued], JobState::Proving),
    ("complete", &[JobState::Proving], JobState::Proved),
    ("fail", FAIL_FROM, JobState::Failed),
    ("fail (a chain job)", &[JobState::Proved], JobState::Failed),
    ("cancel", CANCEL_FROM, JobState::Cancelled),
    ("requeue", &[JobState::Proving], JobState::Queued),
    ("orphan", ORPHAN_FROM, JobState::Failed),
    ("unsettle", UNSETTLE_FROM, JobState::Proved),
    ("mark_submitted", SUBMIT_FROM, JobState::Submitted),
    ("settle", &[JobState::Submitted], JobState::Settled),
    ("requeue_interrupted", &[JobState::Proving], JobState::Queued),
];
const FAIL_FROM: &[JobState] = &[JobState::Queued, JobState::Proving, JobState::Submitted];
const CANCEL_FROM: &[JobState] = &[JobState::Queued, JobState::Proving];
const ORPHAN_FROM: &[JobState] =
    &[JobState::Queued, JobState::Proving, JobState::Proved, JobState::Submitted, JobState::Settled, JobState::Failed];
const UNSETTLE_FROM: &[JobState] = &[JobState::Submitted, JobState::Settled];
const SUBMIT_FROM: &[JobState] = &[JobState::Proved, JobState::Submitted];
/// Chain jobs not finished yet (a poster's open jobs).
const OPEN: &[JobState] = &[JobState::Queued, JobState::Proving, JobState::Proved, JobState::Submitted];
/// Chain jobs proved but not settled.
const PENDING: &[JobState] = &[JobState::Proved, JobState::Submitted];
/// Chain jobs a reorganization may have touched.
const ON_CHAIN: &[JobState] =
    &[JobState::Queued, JobState::Proving, JobState::Proved, JobState::Submitted, JobState::Settled];

/// `states` as an SQL list of their stored numbers (`1, 2, 4`).
fn sql_states(states: &[JobState]) -> String {
    states.iter().map(|s| (*s as i64).to_string()).collect::<Vec<_>>().join(", ")
}

/// The input a job proves.
#[derive(Clone, Debug, PartialEq)]
pub enum JobInput {
    /// Quantized at each input's scale, every input's values concatenated: what
    /// the prover takes and the statement's input instances. Every job written
    /// by this version holds this.
    Quantized(Vec<i64>),
    /// Float values, as stores written before the quantized form kept them
    /// (an upgraded node still proves its queued jobs: [`JobInput::quantized`]).
    Float(Vec<f64>),
}

impl JobInput {
    /// The quantized input for `model`: the stored values, or the quantization of
    /// an older store's floats; an error when a value is outside the model's input
    /// range (the node never clamps) or the length is not the model's.
    pub fn quantized(&self, model: &zkinfer_quantize::QModel) -> std::result::Result<Vec<i64>, String> {
        match self {
            JobInput::Quantized(q) => {
                model.check_input_len(q.len()).map_err(|e| format!("input: {e}"))?;
                let (lo, hi) = zkinfer_quantize::fixed::signed_range(model.config.act_bits);
                match q.iter().position(|&v| (v as i128) < lo || (v as i128) > hi) {
                    Some(i) => Err(format!("input[{i}] = {} is out of the model's input range [{lo}, {hi}]", q[i])),
                    None => Ok(q.clone()),
                }
            }
            JobInput::Float(x) => {
                let q = model.quantize_input(x).map_err(|e| format!("input: {e}"))?;
                if q.clamped > 0 {
                    return Err(format!("input: {} values are outside the model's input range", q.clamped));
                }
                Ok(q.values)
            }
        }
    }
}

/// What a chain job was posted with (`JobPosted`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainPosting {
    /// The on-chain job id.
    pub job_id: U256,
    /// The bounty (token base units).
    pub bounty: U256,
    /// Who posted it.
    pub poster: Address,
    /// The block it was posted in.
    pub block: u64,
}

/// A stored job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobRecord {
    /// Job id (`0x` + 32 random bytes in hex), assigned by the node.
    pub id: String,
    /// Model id (`0x` + 64 hex).
    pub model_id: String,
    /// Current state.
    pub state: JobState,
    /// The input to prove.
    pub input: JobInput,
    /// The binding element the proof is bound to.
    pub binding: Fr,
    /// The client's reference (for a chain job, the on-chain job id as `0x` + 64 hex).
    pub job_ref: Option<String>,
    /// The client's idempotency key (the chain watcher's key for a chain job).
    pub idempotency_key: Option<String>,
    /// Why it failed (or why its result is not stored yet).
    pub error: Option<String>,
    /// Unix ms.
    pub created_ms: i64,
    /// Unix ms.
    pub updated_ms: i64,
    /// How many times a worker started it (more than 1 after a crash).
    pub attempts: i64,
    /// The posting, for a job the chain watcher took from a `JobPosted` event
    /// (it is then submitted to the market once proved); `None` for API jobs.
    pub chain: Option<ChainPosting>,
    /// The settlement transaction, once settled.
    pub tx_hash: Option<B256>,
}

impl JobRecord {
    /// A queued API job.
    pub fn queued(id: String, model_id: String, input: JobInput, binding: Fr) -> JobRecord {
        let now = now_ms();
        JobRecord {
            id,
            model_id,
            state: JobState::Queued,
            input,
            binding,
            job_ref: None,
            idempotency_key: None,
            error: None,
            created_ms: now,
            updated_ms: now,
            attempts: 0,
            chain: None,
            tx_hash: None,
        }
    }

    /// Whether the chain watcher took it from the market.
    pub fn from_chain(&self) -> bool {
        self.chain.is_some()
    }

    /// Whether nothing will happen to the job any more: a final state, or
    /// `proved` for a job that is not submitted on chain.
    pub fn is_done(&self) -> bool {
        match self.state {
            JobState::Proved => !self.from_chain(),
            s => s.is_final(),
        }
    }
}

/// A finished proof as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredProof {
    /// The proof file JSON (`zkinfer-proof`).
    pub proof_json: String,
    /// Prover time in ms.
    pub prove_ms: f64,
    /// Witness time in ms.
    pub witness_ms: f64,
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("job store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// No such job.
    #[error("no job {0}")]
    NotFound(String),
    /// The transition is not allowed from the job's state.
    #[error("job {id} is {state}, it cannot be {action}")]
    BadState {
        /// Job id.
        id: String,
        /// Its state.
        state: &'static str,
        /// What was attempted.
        action: &'static str,
    },
}

type Result<T> = std::result::Result<T, StoreError>;

/// What a store error means for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The disk (or the store's size limit) is full: retry after space is freed.
    Full,
    /// The store cannot be read or written (I/O error, corruption, locked): retry later.
    Unavailable,
    /// No such job, or a transition the job's state does not allow.
    Request,
    /// Anything else (a bug).
    Other,
}

impl StoreError {
    /// Classifies the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound(_) | StoreError::BadState { .. } => ErrorKind::Request,
            StoreError::Sqlite(e) => match e.sqlite_error_code() {
                Some(ErrorCode::DiskFull) => ErrorKind::Full,
                Some(
                    ErrorCode::SystemIoFailure
                    | ErrorCode::DatabaseCorrupt
                    | ErrorCode::NotADatabase
                    | ErrorCode::CannotOpen
                    | ErrorCode::ReadOnly
                    | ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::OutOfMemory
                    | ErrorCode::PermissionDenied
                    | ErrorCode::FileLockingProtocolFailed,
                ) => ErrorKind::Unavailable,
                _ => ErrorKind::Other,
            },
        }
    }
}

/// Whether the store can take writes, and why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreHealth {
    /// Writes work.
    Ok,
    /// The last write failed for want of space; the next successful
    /// [`JobStore::probe`] clears it.
    Full(String),
    /// The last write failed with an I/O error; the next successful
    /// [`JobStore::probe`] clears it.
    Failing(String),
    /// The store is corrupted (`quick_check` failed, or SQLite said so); only
    /// a restart on a repaired store clears it.
    Corrupt(String),
}

impl StoreHealth {
    /// Why the store is unhealthy (`None` when it is not).
    pub fn problem(&self) -> Option<&str> {
        match self {
            StoreHealth::Ok => None,
            StoreHealth::Full(r) | StoreHealth::Failing(r) | StoreHealth::Corrupt(r) => Some(r),
        }
    }
}

/// Acknowledged jobs the store no longer has (see [`JobStore::lost_jobs`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostJobs {
    /// Sequence number of the newest job the store has (0 when none).
    pub store_seq: i64,
    /// Sequence number of the newest job acknowledged to a client.
    pub acked_seq: i64,
}

/// The SQLite job store (one connection behind a mutex; SQLite serializes
/// writers anyway, and every statement here is short).
pub struct JobStore {
    conn: Mutex<Connection>,
    health: watch::Sender<StoreHealth>,
    acked_path: PathBuf,
    lost: Option<LostJobs>,
}

/// Unix time in ms.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

const COLUMNS: &str = "id, model_id, state, input, binding, job_ref, idempotency_key, error, created_ms, updated_ms, \
                       attempts, from_chain, bounty, tx_hash, poster, chain_block, qinput";

/// Columns added after the first release, with their definitions (added to
/// older stores when opened).
/// `qinput` holds the quantized input (JSON integers) of every job written since
/// the float `input` column stopped being written (it is '' then).
const ADDED_COLUMNS: [(&str, &str); 6] = [
    ("from_chain", "INTEGER NOT NULL DEFAULT 0"),
    ("bounty", "TEXT NOT NULL DEFAULT ''"),
    ("tx_hash", "TEXT NOT NULL DEFAULT ''"),
    ("poster", "TEXT NOT NULL DEFAULT ''"),
    ("chain_block", "INTEGER NOT NULL DEFAULT 0"),
    ("qinput", "TEXT"),
];

/// `PRAGMA quick_check`: `Ok` or the first problems it reports.
fn quick_check(conn: &Connection) -> std::result::Result<(), String> {
    let mut st = conn.prepare("PRAGMA quick_check(5)").map_err(|e| e.to_string())?;
    let rows: Vec<String> = st.query_map([], |r| r.get(0)).and_then(|r| r.collect()).map_err(|e| e.to_string())?;
    if rows.len() == 1 && rows[0] == "ok" { Ok(()) } else { Err(rows.join("; ")) }
}

/// A stored value that does not decode: the row is reported, never guessed at.
fn bad_column(col: usize, id: &str, what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        format!("job {id}: the stored {what} `{value}` does not decode").into(),
    )
}

/// '' (how the store keeps "none") as `None`.
fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn row_to_job(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRecord> {
    let id: String = r.get(0)?;
    let state: i64 = r.get(2)?;
    let state = JobState::from_i64(state).ok_or_else(|| bad_column(2, &id, "state", &state.to_string()))?;
    let input = match r.get::<_, Option<String>>(16)? {
        Some(q) => JobInput::Quantized(serde_json::from_str(&q).map_err(|_| bad_column(16, &id, "input", &q))?),
        None => {
            let f: String = r.get(3)?;
            JobInput::Float(serde_json::from_str(&f).map_err(|_| bad_column(3, &id, "float input", &f))?)
        }
    };
    let binding: String = r.get(4)?;
    let binding = fr_from_hex(&binding).map_err(|_| bad_column(4, &id, "binding", &binding))?;
    let job_ref = non_empty(r.get(5)?);
    let chain = if r.get::<_, i64>(11)? != 0 {
        let job_ref = job_ref.clone().unwrap_or_default();
        let job_id = U256::from_str_radix(strip_0x(&job_ref), 16).map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                5,
                rusqlite::types::Type::Text,
                format!("job {id}: the stored job_ref `{job_ref}` is not an on-chain job id").into(),
            )
        })?;
        let bounty: String = r.get(12)?;
        let bounty = U256::from_str_radix(&bounty, 10).map_err(|_| bad_column(12, &id, "bounty", &bounty))?;
        let poster: String = r.get(14)?;
        // '' is the column's default: a chain job taken by a version that did not keep the poster.
        let poster = match poster.as_str() {
            "" => Address::ZERO,
            p => p.parse::<Address>().map_err(|_| bad_column(14, &id, "poster", p))?,
        };
        Some(ChainPosting { job_id, bounty, poster, block: r.get::<_, i64>(15)? as u64 })
    } else {
        None
    };
    let tx_hash = match non_empty(r.get(13)?) {
        Some(t) => Some(t.parse::<B256>().map_err(|_| bad_column(13, &id, "tx_hash", &t))?),
        None => None,
    };
    Ok(JobRecord {
        id,
        model_id: r.get(1)?,
        state,
        input,
        binding,
        job_ref,
        idempotency_key: non_empty(r.get(6)?),
        error: non_empty(r.get(7)?),
        created_ms: r.get(8)?,
        updated_ms: r.get(9)?,
        attempts: r.get(10)?,
        chain,
        tx_hash,
    })
}

/// The jobs `SELECT {COLUMNS} FROM jobs {filter}` finds. A row that does not
/// decode (a value written by something else than this store: a bad state
/// number, binding, input, chain field) never stops the others and is never
/// guessed at: it is quarantined — marked `failed`, with the reason and the
/// undecodable value in its `error`, and the value replaced by one that decodes
/// (a chain job becomes a plain one, so nothing submits it) — then read again.
fn read_jobs(conn: &Connection, filter: &str, params: impl rusqlite::Params) -> Result<Vec<JobRecord>> {
    let mut st = conn.prepare(&format!("SELECT {COLUMNS} FROM jobs {filter}"))?;
    let rows = st.query_map(params, |r| {
        Ok(match row_to_job(r) {
            Ok(j) => Ok(j),
            Err(rusqlite::Error::FromSqlConversionFailure(col, _, e)) => {
                Err((r.get::<_, String>(0)?, col, e.to_string()))
            }
            Err(e) => return Err(e),
        })
    })?;
    let rows: Vec<_> = rows.collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        match row {
            Ok(j) => out.push(j),
            Err((id, col, reason)) => {
                if let Some(j) = quarantine(conn, &id, col, reason)? {
                    out.push(j);
                }
            }
        }
    }
    Ok(out)
}

/// See [`read_jobs`]: fixes one undecodable column of job `id` at a time (at
/// most every column once), then reads the job; `None` if it is gone.
fn quarantine(conn: &Connection, id: &str, mut col: usize, mut reason: String) -> Result<Option<JobRecord>> {
    let mut reasons = Vec::new();
    for _ in 0..8 {
        tracing::warn!(job = %id, %reason, "a stored job does not decode: it is marked failed");
        reasons.push(reason.clone());
        let fix = match col {
            3 | 16 => "qinput = '[]'",
            4 => "binding = '0x00'",
            13 => "tx_hash = ''",
            5 | 12 | 14 => "from_chain = 0",
            _ => "state = state",
        };
        conn.execute(
            &format!("UPDATE jobs SET {fix}, state = ?1, error = ?2 WHERE id = ?3"),
            params![JobState::Failed as i64, reasons.join("; "), id],
        )?;
        match conn.query_row(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"), params![id], row_to_job).optional() {
            Ok(j) => return Ok(j),
            Err(rusqlite::Error::FromSqlConversionFailure(c, _, e)) => (col, reason) = (c, e.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    let reason = format!("job {id}: still does not decode after quarantine: {}", reasons.join("; "));
    Err(rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, reason.into()).into())
}

impl JobStore {
    /// Opens (creating) `path` in WAL mode with `synchronous = FULL`.
    pub fn open(path: &Path) -> Result<JobStore> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS jobs (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                model_id TEXT NOT NULL,
                state INTEGER NOT NULL,
                input TEXT NOT NULL,
                binding TEXT NOT NULL,
                job_ref TEXT NOT NULL DEFAULT '',
                idempotency_key TEXT NOT NULL DEFAULT '',
                error TEXT NOT NULL DEFAULT '',
                created_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                proof_json TEXT,
                prove_ms REAL,
                witness_ms REAL
            );
            CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency ON jobs(idempotency_key) WHERE idempotency_key != '';
            CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, seq);
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
        )?;
        let have: Vec<String> = {
            let mut st = conn.prepare("SELECT name FROM pragma_table_info('jobs')")?;
            st.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
        };
        for (name, def) in ADDED_COLUMNS {
            if !have.iter().any(|h| h == name) {
                conn.execute_batch(&format!("ALTER TABLE jobs ADD COLUMN {name} {def}"))?;
            }
        }
        let health = match quick_check(&conn) {
            Ok(()) => StoreHealth::Ok,
            Err(reason) => StoreHealth::Corrupt(format!("{}: PRAGMA quick_check: {reason}", path.display())),
        };
        let acked_path = path.with_extension("acked");
        let acked_seq = std::fs::read_to_string(&acked_path).ok().and_then(|s| s.trim().parse::<i64>().ok());
        let store_seq: i64 = conn
            .query_row("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'", [], |r| r.get(0))
            .optional()
            .ok()
            .flatten()
            .unwrap_or(0);
        let lost = acked_seq.filter(|&a| a > store_seq).map(|acked_seq| LostJobs { store_seq, acked_seq });
        let store = JobStore { conn: Mutex::new(conn), health: watch::channel(health).0, acked_path, lost };
        if store.lost.is_some() {
            // Reported once; from now on the witness follows the store again.
            store.write_acked(store_seq);
        }
        Ok(store)
    }

    /// Acknowledged jobs missing from the store when it was opened (its
    /// write-ahead log was truncated or removed after they were acknowledged).
    pub fn lost_jobs(&self) -> Option<&LostJobs> {
        self.lost.as_ref()
    }

    /// The store's health now; the receiver sees every change.
    pub fn health(&self) -> watch::Receiver<StoreHealth> {
        self.health.subscribe()
    }

    /// Whether writes are expected to work (no failed write since the last probe, no corruption).
    pub fn writable(&self) -> bool {
        *self.health.borrow() == StoreHealth::Ok
    }

    /// Writes and deletes [`PROBE_BYTES`]: whether the store can take a proof
    /// now. Clears a [`StoreHealth::Failing`] state on success.
    pub fn probe(&self) -> bool {
        let blob = "0".repeat(PROBE_BYTES);
        let r = (|| -> Result<()> {
            let conn = self.conn();
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('probe', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![blob],
            )?;
            conn.execute("DELETE FROM meta WHERE key = 'probe'", [])?;
            Ok(())
        })();
        match r {
            Ok(()) => {
                self.health.send_if_modified(|h| {
                    let failing = matches!(h, StoreHealth::Full(_) | StoreHealth::Failing(_));
                    if failing {
                        *h = StoreHealth::Ok;
                    }
                    failing
                });
                true
            }
            Err(e) => {
                self.note(&e);
                false
            }
        }
    }

    /// Records what a failed operation says about the store's health.
    fn note(&self, e: &StoreError) {
        let corrupt = matches!(e, StoreError::Sqlite(s)
            if matches!(s.sqlite_error_code(), Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)));
        let full = e.kind() == ErrorKind::Full;
        let failing = matches!(e, StoreError::Sqlite(s)
            if matches!(s.sqlite_error_code(), Some(ErrorCode::SystemIoFailure | ErrorCode::ReadOnly | ErrorCode::CannotOpen)));
        if !corrupt && !full && !failing {
            return;
        }
        let reason = e.to_string();
        self.health.send_if_modified(|h| {
            let new = if corrupt {
                StoreHealth::Corrupt(reason)
            } else if full {
                StoreHealth::Full(reason)
            } else {
                StoreHealth::Failing(reason)
            };
            if matches!(h, StoreHealth::Corrupt(_)) || *h == new {
                return false;
            }
            *h = new;
            true
        });
    }

    /// Runs a store operation, noting a failure in the store's health.
    fn noted<T>(&self, r: Result<T>) -> Result<T> {
        if let Err(e) = &r {
            self.note(e);
        }
        r
    }

    /// Best effort: the witness of acknowledged jobs (a failed write only
    /// weakens the check, it never reports a loss that did not happen).
    fn write_acked(&self, seq: i64) {
        if let Err(e) = std::fs::write(&self.acked_path, format!("{seq}\n")) {
            tracing::debug!(error = %e, "writing the acknowledged-jobs witness");
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Inserts a queued job, unless a job with the same non-empty idempotency
    /// key exists: then returns that one and `true`.
    pub fn insert(&self, job: &JobRecord) -> Result<(JobRecord, bool)> {
        self.insert_within(job, None).map(|r| r.expect("no capacity limit"))
    }

    /// [`JobStore::insert`] only while fewer than `limit.0` jobs are in the
    /// states `limit.1` (checked in the same transaction, so concurrent
    /// submissions never exceed it); `None` when the limit is reached.
    pub fn insert_within(
        &self,
        job: &JobRecord,
        limit: Option<(u64, &[JobState])>,
    ) -> Result<Option<(JobRecord, bool)>> {
        let r = self.insert_tx(job, limit);
        if let Ok(Some((_, false))) = &r
            && let Ok(seq) = self.conn().query_row("SELECT seq FROM jobs WHERE id = ?1", params![job.id], |r| r.get(0))
        {
            self.write_acked(seq);
        }
        self.noted(r)
    }

    fn insert_tx(&self, job: &JobRecord, limit: Option<(u64, &[JobState])>) -> Result<Option<(JobRecord, bool)>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if let Some(key) = &job.idempotency_key {
            let existing = read_jobs(&tx, "WHERE idempotency_key = ?1", params![key])?;
            if let Some(e) = existing.into_iter().next() {
                return Ok(Some((e, true)));
            }
        }
        if let Some((cap, states)) = limit {
            let list = sql_states(states);
            let n: i64 =
                tx.query_row(&format!("SELECT COUNT(*) FROM jobs WHERE state IN ({list})"), [], |r| r.get(0))?;
            if n as u64 >= cap {
                return Ok(None);
            }
        }
        let (float_input, qinput) = match &job.input {
            JobInput::Quantized(q) => (String::new(), Some(serde_json::to_string(q).expect("integers serialize"))),
            JobInput::Float(f) => (serde_json::to_string(f).expect("floats serialize"), None),
        };
        let chain = job.chain.as_ref();
        tx.execute(
            "INSERT INTO jobs (id, model_id, state, input, binding, job_ref, idempotency_key, created_ms, updated_ms,
                               from_chain, bounty, poster, chain_block, qinput)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                job.id,
                job.model_id,
                JobState::Queued as i64,
                float_input,
                fr_to_hex(&job.binding),
                match chain {
                    Some(c) => format!("{:#066x}", c.job_id),
                    None => job.job_ref.clone().unwrap_or_default(),
                },
                job.idempotency_key.as_deref().unwrap_or(""),
                job.created_ms,
                chain.is_some() as i64,
                chain.map(|c| c.bounty.to_string()).unwrap_or_default(),
                chain.map(|c| format!("{:#x}", c.poster)).unwrap_or_default(),
                chain.map_or(0, |c| c.block as i64),
                qinput
            ],
        )?;
        tx.commit()?;
        Ok(Some((job.clone(), false)))
    }

    /// The job `id`.
    pub fn get(&self, id: &str) -> Result<JobRecord> {
        self.noted((|| -> Result<JobRecord> {
            read_jobs(&self.conn(), "WHERE id = ?1", params![id])?
                .pop()
                .ok_or_else(|| StoreError::NotFound(id.to_string()))
        })())
    }

    /// The job submitted with idempotency key `key`.
    pub fn get_by_key(&self, key: &str) -> Result<Option<JobRecord>> {
        self.noted((|| -> Result<Option<JobRecord>> {
            Ok(read_jobs(&self.conn(), "WHERE idempotency_key = ?1", params![key])?.pop())
        })())
    }

    /// The newest `limit` jobs, optionally only in `state`, newest first.
    pub fn list(&self, limit: u32, state: Option<JobState>) -> Result<Vec<JobRecord>> {
        let filter = "WHERE (?1 = 0 OR state = ?1) ORDER BY seq DESC LIMIT ?2";
        self.noted(read_jobs(&self.conn(), filter, params![state.map(|s| s as i64).unwrap_or(0), limit]))
    }

    /// Takes the oldest queued job and marks it `proving` (one transaction, so
    /// two workers never take the same job).
    pub fn claim_next(&self) -> Result<Option<JobRecord>> {
        self.noted((|| -> Result<Option<JobRecord>> {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            // A queued row that does not decode is failed by read_jobs: take the next one.
            let job = loop {
                let found = read_jobs(&tx, "WHERE state = ?1 ORDER BY seq LIMIT 1", params![JobState::Queued as i64])?;
                match found.into_iter().next() {
                    Some(j) if j.state == JobState::Queued => break Some(j),
                    Some(_) => continue,
                    None => break None,
                }
            };
            let Some(mut job) = job else {
                return Ok(None);
            };
            let now = now_ms();
            tx.execute(
                "UPDATE jobs SET state = ?1, updated_ms = ?2, attempts = attempts + 1 WHERE id = ?3",
                params![JobState::Proving as i64, now, job.id],
            )?;
            tx.commit()?;
            job.state = JobState::Proving;
            job.updated_ms = now;
            job.attempts += 1;
            Ok(Some(job))
        })())
    }

    /// Stores the proof of a job being proved and marks it `proved`; a job
    /// cancelled meanwhile stays cancelled (the proof is dropped).
    pub fn complete(&self, id: &str, proof: &StoredProof) -> Result<JobState> {
        self.noted((|| -> Result<JobState> {
            let n = self.conn().execute(
                "UPDATE jobs SET state = ?1, updated_ms = ?2, proof_json = ?3, prove_ms = ?4, witness_ms = ?5
                 WHERE id = ?6 AND state = ?7",
                params![
                    JobState::Proved as i64,
                    now_ms(),
                    proof.proof_json,
                    proof.prove_ms,
                    proof.witness_ms,
                    id,
                    JobState::Proving as i64
                ],
            )?;
            if n == 1 { Ok(JobState::Proved) } else { Ok(self.get(id)?.state) }
        })())
    }

    /// Marks a job `failed` with a reason (from any non-final state, or from
    /// `proved` for a chain job whose submission failed).
    pub fn fail(&self, id: &str, error: &str) -> Result<()> {
        self.noted((|| -> Result<()> {
            self.conn().execute(
                &format!(
                    "UPDATE jobs SET state = ?1, updated_ms = ?2, error = ?3
                     WHERE id = ?4 AND (state IN ({}) OR (state = ?5 AND from_chain = 1))",
                    sql_states(FAIL_FROM)
                ),
                params![JobState::Failed as i64, now_ms(), error, id, JobState::Proved as i64],
            )?;
            Ok(())
        })())
    }

    /// Cancels a queued or proving job; an error for any other state.
    pub fn cancel(&self, id: &str) -> Result<JobRecord> {
        self.noted((|| -> Result<JobRecord> {
            let n = self.conn().execute(
                &format!(
                    "UPDATE jobs SET state = ?1, updated_ms = ?2 WHERE id = ?3 AND state IN ({})",
                    sql_states(CANCEL_FROM)
                ),
                params![JobState::Cancelled as i64, now_ms(), id],
            )?;
            let job = self.get(id)?;
            if n == 0 && job.state != JobState::Cancelled {
                return Err(StoreError::BadState { id: id.to_string(), state: job.state.name(), action: "cancelled" });
            }
            Ok(job)
        })())
    }

    /// Puts a job being proved back in the queue, with the reason in `error`
    /// (its proof could not be stored); false when it is no longer proving.
    pub fn requeue(&self, id: &str, reason: &str) -> Result<bool> {
        self.noted((|| -> Result<bool> {
            let n = self.conn().execute(
                "UPDATE jobs SET state = ?1, updated_ms = ?2, error = ?3 WHERE id = ?4 AND state = ?5",
                params![JobState::Queued as i64, now_ms(), reason, id, JobState::Proving as i64],
            )?;
            Ok(n == 1)
        })())
    }

    /// The chain jobs taken for on-chain job `job_ref`, oldest first (more
    /// than one only when a reorganization gave the id to another posting).
    pub fn chain_jobs_for(&self, job_ref: &str) -> Result<Vec<JobRecord>> {
        self.noted(read_jobs(&self.conn(), "WHERE from_chain = 1 AND job_ref = ?1 ORDER BY seq", params![job_ref]))
    }

    /// Chain jobs posted in block `block` or later that a reorganization may
    /// have touched (every state but cancelled and failed), oldest first.
    pub fn chain_jobs_since(&self, block: u64) -> Result<Vec<JobRecord>> {
        self.noted((|| -> Result<Vec<JobRecord>> {
            let filter = format!(
                "WHERE from_chain = 1 AND chain_block >= ?1 AND state IN ({}) ORDER BY seq",
                sql_states(ON_CHAIN)
            );
            Ok(read_jobs(&self.conn(), &filter, params![block as i64])?
                .into_iter()
                .filter(|j| j.from_chain())
                .collect())
        })())
    }

    /// Marks a chain job `failed` whatever its state (but cancelled): its
    /// posting, or its settlement, is no longer on chain.
    pub fn orphan(&self, id: &str, reason: &str) -> Result<()> {
        self.noted((|| -> Result<()> {
            self.conn().execute(
                &format!(
                    "UPDATE jobs SET state = ?1, updated_ms = ?2, error = ?3 WHERE id = ?4 AND from_chain = 1 AND state IN ({})",
                    sql_states(ORPHAN_FROM)
                ),
                params![JobState::Failed as i64, now_ms(), reason, id],
            )?;
            Ok(())
        })())
    }

    /// Moves a settled (or submitted) chain job back to `proved`: its
    /// settlement was undone by a reorganization, its posting is still there.
    pub fn unsettle(&self, id: &str) -> Result<()> {
        self.noted((|| -> Result<()> {
            self.conn().execute(
                &format!(
                    "UPDATE jobs SET state = ?1, updated_ms = ?2, tx_hash = '' WHERE id = ?3 AND from_chain = 1 AND state IN ({})",
                    sql_states(UNSETTLE_FROM)
                ),
                params![JobState::Proved as i64, now_ms(), id],
            )?;
            Ok(())
        })())
    }

    /// Chain jobs of `poster` not finished yet (queued, proving, proved or submitted).
    pub fn open_chain_jobs_of(&self, poster: Address) -> Result<u64> {
        self.noted((|| -> Result<u64> {
            let n: i64 = self.conn().query_row(
                &format!(
                    "SELECT COUNT(*) FROM jobs WHERE from_chain = 1 AND poster = ?1 AND state IN ({})",
                    sql_states(OPEN)
                ),
                params![format!("{poster:#x}")],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        })())
    }

    /// Puts jobs left in `proving` (a crash) back in the queue; returns how many.
    pub fn requeue_interrupted(&self) -> Result<usize> {
        self.noted((|| -> Result<usize> {
            Ok(self.conn().execute(
                "UPDATE jobs SET state = ?1, updated_ms = ?2 WHERE state = ?3",
                params![JobState::Queued as i64, now_ms(), JobState::Proving as i64],
            )?)
        })())
    }

    /// The stored proof of a proved (or later) job.
    pub fn proof(&self, id: &str) -> Result<Option<StoredProof>> {
        self.noted((|| -> Result<Option<StoredProof>> {
            let row = self
                .conn()
                .query_row("SELECT proof_json, prove_ms, witness_ms FROM jobs WHERE id = ?1", params![id], |r| {
                    Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<f64>>(1)?, r.get::<_, Option<f64>>(2)?))
                })
                .optional()?
                .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
            Ok(row.0.map(|proof_json| StoredProof {
                proof_json,
                prove_ms: row.1.unwrap_or(0.0),
                witness_ms: row.2.unwrap_or(0.0),
            }))
        })())
    }

    /// Marks a proved chain job as being submitted to the market.
    pub fn mark_submitted(&self, id: &str) -> Result<()> {
        self.noted(self.transition(id, SUBMIT_FROM, JobState::Submitted, "submitted", None))
    }

    /// Marks a submitted chain job settled by transaction `tx_hash` (`None`: found
    /// settled on chain, the transaction unknown; a hash already stored is kept).
    pub fn settle(&self, id: &str, tx_hash: Option<B256>) -> Result<()> {
        self.noted(self.transition(id, &[JobState::Submitted], JobState::Settled, "settled", tx_hash))
    }

    fn transition(
        &self,
        id: &str,
        from: &[JobState],
        to: JobState,
        action: &'static str,
        tx: Option<B256>,
    ) -> Result<()> {
        let conn = self.conn();
        let job = read_jobs(&conn, "WHERE id = ?1", params![id])?
            .pop()
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        if !from.contains(&job.state) {
            return Err(StoreError::BadState { id: id.to_string(), state: job.state.name(), action });
        }
        conn.execute(
            "UPDATE jobs SET state = ?1, updated_ms = ?2, tx_hash = CASE WHEN ?3 = '' THEN tx_hash ELSE ?3 END
             WHERE id = ?4",
            params![to as i64, now_ms(), tx.map(|t| format!("{t:#x}")).unwrap_or_default(), id],
        )?;
        Ok(())
    }

    /// Chain jobs that are proved or submitted but not settled, oldest first.
    pub fn chain_pending(&self) -> Result<Vec<JobRecord>> {
        self.noted((|| -> Result<Vec<JobRecord>> {
            let filter = format!("WHERE from_chain = 1 AND state IN ({}) ORDER BY seq", sql_states(PENDING));
            Ok(read_jobs(&self.conn(), &filter, [])?.into_iter().filter(|j| PENDING.contains(&j.state)).collect())
        })())
    }

    /// A value of the node's own bookkeeping (e.g. the chain watcher's next block).
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.noted((|| -> Result<Option<String>> {
            Ok(self.conn().query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| r.get(0)).optional()?)
        })())
    }

    /// Sets a [`JobStore::meta`] value.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.noted((|| -> Result<()> {
            self.conn().execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(())
        })())
    }

    /// Jobs per state.
    pub fn counts(&self) -> Result<Vec<(JobState, u64)>> {
        self.noted((|| -> Result<Vec<(JobState, u64)>> {
            let conn = self.conn();
            let mut st = conn.prepare("SELECT state, COUNT(*) FROM jobs GROUP BY state")?;
            let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
            let mut out = Vec::new();
            for r in rows {
                let (s, n) = r?;
                let state = JobState::from_i64(s).ok_or_else(|| {
                    rusqlite::Error::FromSqlConversionFailure(
                        0,
                        rusqlite::types::Type::Integer,
                        format!("{n} stored jobs have the unknown state {s}").into(),
                    )
                })?;
                out.push((state, n as u64));
            }
            Ok(out)
        })())
    }

    /// Number of queued jobs.
    pub fn queued(&self) -> Result<u64> {
        self.noted((|| -> Result<u64> {
            let n: i64 = self.conn().query_row(
                "SELECT COUNT(*) FROM jobs WHERE state = ?1",
                params![JobState::Queued as i64],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        })())
    }

    /// Proving times (ms) of the newest `limit` proved jobs.
    pub fn prove_times(&self, limit: u32) -> Result<Vec<f64>> {
        self.noted((|| -> Result<Vec<f64>> {
            let conn = self.conn();
            let mut st =
                conn.prepare("SELECT prove_ms FROM jobs WHERE prove_ms IS NOT NULL ORDER BY seq DESC LIMIT ?1")?;
            let rows = st.query_map(params![limit], |r| r.get::<_, f64>(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })())
    }
}

#[cfg(test)]
mod tests {
    use halo2curves::ff::Field;

    use super::*;

    fn job(id: &str, key: &str) -> JobRecord {
        JobRecord {
            idempotency_key: non_empty(key.into()),
            ..JobRecord::queued(id.into(), "0xm".into(), JobInput::Quantized(vec![128, -256]), Fr::from(1u64))
        }
    }

    #[test]
    fn every_store_move_is_in_the_transition_table() {
        for (op, from, to) in MOVES {
            for f in from {
                assert!(f.may_become(to), "{op}: {} -> {} is not in JobState::may_become", f.name(), to.name());
            }
        }
        for s in JobState::ALL {
            assert_eq!(JobState::from_i64(s as i64), Some(s));
            assert!(!JobState::Cancelled.may_become(s), "cancelled is final");
        }
        assert_eq!(JobState::from_i64(0), None);
        // The numbers and names are the proto's.
        for s in JobState::ALL {
            let pb = zkinfer_proto::v1::JobState::from_str_name(&format!("JOB_STATE_{}", s.name().to_uppercase()));
            assert_eq!(pb.map(|p| p as i64), Some(s as i64), "{}", s.name());
        }
        assert_eq!(JobState::from_i64(8), None);
        assert_eq!(sql_states(PENDING), "3, 4");
    }

    #[test]
    fn chain_postings_binding_and_tx_hash_round_trip_typed() {
        let dir = tempfile::tempdir().unwrap();
        let s = JobStore::open(&dir.path().join("jobs.db")).unwrap();
        let poster: Address = "0x00000000000000000000000000000000000000Ab".parse().unwrap();
        let posting = ChainPosting { job_id: U256::from(7u64), bounty: U256::MAX, poster, block: 42 };
        let binding = -Fr::from(5u64);
        let j = JobRecord {
            chain: Some(posting.clone()),
            binding,
            idempotency_key: Some("chain:0x07".into()),
            ..JobRecord::queued("c".into(), "0xm".into(), JobInput::Quantized(vec![i64::MIN + 1, 0, i64::MAX]), Fr::ONE)
        };
        s.insert(&j).unwrap();
        let got = s.get("c").unwrap();
        assert_eq!(got.chain, Some(posting));
        assert_eq!(got.job_ref.as_deref(), Some(&*format!("{:#066x}", 7)));
        assert_eq!((got.binding, &got.input, got.tx_hash, got.error.as_deref()), (binding, &j.input, None, None));
        assert_eq!(s.open_chain_jobs_of(poster).unwrap(), 1);
        s.claim_next().unwrap();
        s.complete("c", &StoredProof { proof_json: "{}".into(), prove_ms: 1.0, witness_ms: 1.0 }).unwrap();
        s.mark_submitted("c").unwrap();
        let tx = B256::repeat_byte(0xcd);
        s.settle("c", Some(tx)).unwrap();
        assert_eq!(s.get("c").unwrap().tx_hash, Some(tx));
        assert_eq!(s.open_chain_jobs_of(poster).unwrap(), 0);
    }

    #[test]
    fn a_stored_value_that_does_not_decode_is_quarantined_not_guessed_at() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.db");
        let s = JobStore::open(&path).unwrap();
        for id in ["state", "binding", "bounty", "input", "good"] {
            let mut j = job(id, "");
            if id == "bounty" {
                j.chain = Some(ChainPosting { job_id: U256::ONE, bounty: U256::ONE, poster: Address::ZERO, block: 1 });
            }
            s.insert(&j).unwrap();
        }
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "UPDATE jobs SET state = 9 WHERE id = 'state';
             UPDATE jobs SET binding = '0xzz' WHERE id = 'binding';
             UPDATE jobs SET bounty = 'lots' WHERE id = 'bounty';
             UPDATE jobs SET qinput = '[1.5]', binding = 'p' WHERE id = 'input';",
        )
        .unwrap();
        let e = s.counts().unwrap_err().to_string();
        assert!(e.contains("unknown state 9"), "{e}");
        // A worker skips the broken queued rows (they are failed on the way) and takes the good one.
        assert_eq!(s.claim_next().unwrap().unwrap().id, "good");
        for (id, what) in [
            ("state", "state `9`"),
            ("binding", "binding `0xzz`"),
            ("bounty", "bounty `lots`"),
            ("input", "input `[1.5]`"),
        ] {
            let j = s.get(id).unwrap();
            let err = j.error.clone().unwrap_or_default();
            assert!(err.contains(&format!("job {id}: the stored {what} does not decode")), "{err}");
            assert_eq!((j.state, j.from_chain()), (JobState::Failed, false), "{id}");
        }
        let input = s.get("input").unwrap().error.unwrap();
        assert!(input.contains("binding `p`"), "both bad values are named: {input}");
        assert!(s.chain_pending().unwrap().is_empty() && s.claim_next().unwrap().is_none());
        assert!(s.counts().unwrap().contains(&(JobState::Failed, 4)));
    }

    #[test]
    fn lifecycle_idempotency_and_crash_requeue() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.db");
        let s = JobStore::open(&path).unwrap();
        let (a, dup) = s.insert(&job("a", "k1")).unwrap();
        assert!(!dup);
        let (again, dup) = s.insert(&job("a2", "k1")).unwrap();
        assert_eq!(again.idempotency_key.as_deref(), Some("k1"));
        assert!(dup && again.id == "a");
        s.insert(&job("b", "")).unwrap();
        s.insert(&job("c", "")).unwrap();
        assert_eq!(s.get("a").unwrap().input, a.input);
        assert!(matches!(s.get("zz"), Err(StoreError::NotFound(_))));

        let first = s.claim_next().unwrap().unwrap();
        assert_eq!((first.id.as_str(), first.state, first.attempts), ("a", JobState::Proving, 1));
        let second = s.claim_next().unwrap().unwrap();
        assert_eq!(second.id, "b");
        let p = StoredProof { proof_json: "{}".into(), prove_ms: 12.0, witness_ms: 1.0 };
        assert_eq!(s.complete("a", &p).unwrap(), JobState::Proved);
        assert_eq!(s.proof("a").unwrap().unwrap(), p);
        assert!(s.proof("b").unwrap().is_none());
        assert!(matches!(s.cancel("a"), Err(StoreError::BadState { .. })));
        s.cancel("c").unwrap();
        drop(s);

        // "Crash" with b in proving: reopening requeues it, nothing else changes.
        let s = JobStore::open(&path).unwrap();
        assert_eq!(s.requeue_interrupted().unwrap(), 1);
        let b = s.claim_next().unwrap().unwrap();
        assert_eq!((b.id.as_str(), b.attempts), ("b", 2));
        assert!(s.claim_next().unwrap().is_none(), "c is cancelled, a proved");
        s.fail("b", "boom").unwrap();
        assert_eq!(s.get("b").unwrap().error.as_deref(), Some("boom"));
        let counts = s.counts().unwrap();
        assert!(counts.contains(&(JobState::Proved, 1)) && counts.contains(&(JobState::Failed, 1)));
        assert_eq!(s.list(10, None).unwrap().iter().map(|j| j.id.as_str()).collect::<Vec<_>>(), ["c", "b", "a"]);
        assert_eq!(s.list(10, Some(JobState::Cancelled)).unwrap().len(), 1);
        assert_eq!(s.prove_times(10).unwrap(), vec![12.0]);
    }

    #[test]
    fn chain_jobs_move_proved_submitted_settled() {
        let dir = tempfile::tempdir().unwrap();
        let s = JobStore::open(&dir.path().join("jobs.db")).unwrap();
        let mut j = job("x", "chain:0x01");
        j.chain = Some(ChainPosting { job_id: U256::ONE, bounty: U256::from(100u64), poster: Address::ZERO, block: 3 });
        s.insert(&j).unwrap();
        s.insert(&job("api", "")).unwrap();
        assert!(matches!(s.mark_submitted("x"), Err(StoreError::BadState { .. })), "not proved yet");
        s.claim_next().unwrap().unwrap();
        let p = StoredProof { proof_json: "{}".into(), prove_ms: 1.0, witness_ms: 1.0 };
        s.complete("x", &p).unwrap();
        let x = s.get("x").unwrap();
        assert!(x.from_chain() && !x.is_done(), "a proved chain job still has to be submitted");
        assert_eq!(s.chain_pending().unwrap().len(), 1);
        let tx = B256::repeat_byte(0xab);
        assert!(matches!(s.settle("x", Some(tx)), Err(StoreError::BadState { .. })), "not submitted yet");
        s.mark_submitted("x").unwrap();
        s.mark_submitted("x").unwrap();
        s.settle("x", Some(tx)).unwrap();
        let x = s.get("x").unwrap();
        assert_eq!(
            (x.state, x.tx_hash, x.chain.as_ref().unwrap().bounty),
            (JobState::Settled, Some(tx), U256::from(100u64))
        );
        assert!(x.is_done() && s.chain_pending().unwrap().is_empty());
        assert_eq!(s.meta("next_block").unwrap(), None);
        s.set_meta("next_block", "7").unwrap();
        s.set_meta("next_block", "9").unwrap();
        assert_eq!(s.meta("next_block").unwrap().as_deref(), Some("9"));
    }

    #[test]
    fn opening_an_older_store_adds_the_new_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.db");
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, model_id TEXT NOT NULL,
             state INTEGER NOT NULL, input TEXT NOT NULL, binding TEXT NOT NULL, job_ref TEXT NOT NULL DEFAULT '',
             idempotency_key TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL,
             updated_ms INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, proof_json TEXT, prove_ms REAL,
             witness_ms REAL);
             INSERT INTO jobs (id, model_id, state, input, binding, created_ms, updated_ms)
             VALUES ('old', '0xm', 1, '[1.0]', '0x01', 1, 1);",
        )
        .unwrap();
        drop(c);
        let s = JobStore::open(&path).unwrap();
        let old = s.get("old").unwrap();
        assert_eq!((old.from_chain(), &old.input), (false, &JobInput::Float(vec![1.0])));
        // A chain job of a version that kept no poster: still a chain job, poster unknown (zero).
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "INSERT INTO jobs (id, model_id, state, input, binding, job_ref, created_ms, updated_ms, from_chain, bounty)
             VALUES ('chain', '0xm', 3, '[1.0]', '0x01', '0x07', 1, 1, 1, '5');",
        )
        .unwrap();
        let chain = s.get("chain").unwrap();
        let want = ChainPosting { job_id: U256::from(7u64), bounty: U256::from(5u64), poster: Address::ZERO, block: 0 };
        assert_eq!((chain.state, chain.chain), (JobState::Proved, Some(want)));
    }

    /// The capacity check runs in the insert's transaction: 8 threads
    /// submitting 50 jobs each at capacity 200 queue exactly 200 (the check
    /// and the insert used to be two statements: 201 at capacity 200).
    #[test]
    fn capacity_is_exact_under_concurrent_inserts() {
        let dir = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(JobStore::open(&dir.path().join("jobs.db")).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|i| {
                            let j = job(&format!("t{t}-{i}"), "");
                            s.insert_within(&j, Some((200, &[JobState::Queued]))).unwrap().is_some()
                        })
                        .count()
                })
            })
            .collect();
        let accepted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!((accepted, s.queued().unwrap()), (200, 200));
    }

    #[test]
    fn a_corrupted_store_is_reported_and_lost_jobs_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.db");
        let s = JobStore::open(&path).unwrap();
        assert_eq!(*s.health().borrow(), StoreHealth::Ok);
        for i in 0..20 {
            s.insert(&job(&format!("j{i}"), &format!("k{i}"))).unwrap();
        }
        assert!(s.probe() && s.lost_jobs().is_none());
        drop(s);
        // The witness says 20 were acknowledged; pretend the store holds 3 fewer.
        std::fs::write(dir.path().join("jobs.acked"), "23\n").unwrap();
        let s = JobStore::open(&path).unwrap();
        assert_eq!(s.lost_jobs(), Some(&LostJobs { store_seq: 20, acked_seq: 23 }));
        drop(s);
        assert!(JobStore::open(&path).unwrap().lost_jobs().is_none(), "reported once");

        let mut bytes = std::fs::read(&path).unwrap();
        for b in &mut bytes[4096..] {
            *b = 0x5a;
        }
        std::fs::write(&path, bytes).unwrap();
        let s = JobStore::open(&path).unwrap();
        let h = s.health().borrow().clone();
        assert!(matches!(&h, StoreHealth::Corrupt(r) if r.contains("quick_check")), "{h:?}");
        assert!(!s.writable());
        assert!(s.list(10, None).is_err());
        assert!(matches!(*s.health().borrow(), StoreHealth::Corrupt(_)), "stays corrupt");
    }
}
