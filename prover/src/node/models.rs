//! The models a node serves, each with its proving key loaded once and kept.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result, bail};
use zkinfer_circuits::bundle::{Bundle, Prover};

/// A served model.
pub struct ServedModel {
    /// Directory name (or the uploaded bundle's name).
    pub name: String,
    /// Keys, SRS and model, loaded.
    pub prover: Prover,
}

impl ServedModel {
    /// `0x` + model id.
    pub fn id(&self) -> String {
        self.prover.verifier.info.model_id.clone()
    }
}

/// Prefix of the directories an upload is written to before it is checked
/// and renamed to its name (a name may not start with a dot).
pub const UPLOAD_PREFIX: &str = ".upload-";

/// Model id → served model.
#[derive(Default)]
pub struct Models {
    map: RwLock<HashMap<String, Arc<ServedModel>>>,
}

impl Models {
    /// Loads a set-up model directory whose circuit has at most 2^`max_k`
    /// rows and serves it; returns it (an already served id keeps its loaded
    /// copy). Every file is checked before it is parsed ([`Bundle::load_prover_within`]).
    pub fn load(&self, dir: &Path, name: &str, max_k: u32) -> Result<Arc<ServedModel>> {
        let prover =
            Bundle::new(dir).load_prover_within(max_k).with_context(|| format!("loading model {}", dir.display()))?;
        Ok(self.insert(name, prover))
    }

    /// Serves a loaded model (an already served id keeps its loaded copy).
    pub fn insert(&self, name: &str, prover: Prover) -> Arc<ServedModel> {
        let id = prover.verifier.info.model_id.to_ascii_lowercase();
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = map.get(&id) {
            return m.clone();
        }
        let m = Arc::new(ServedModel { name: name.to_string(), prover });
        map.insert(id, m.clone());
        m
    }

    /// Serves every set-up model directory directly under `root` (circuits of
    /// at most 2^`max_k` rows); returns how many were loaded and the
    /// directories that failed, with the reason.
    pub fn load_all(&self, root: &Path, max_k: u32) -> Result<(usize, Vec<String>)> {
        let mut loaded = 0;
        let mut failed = Vec::new();
        let entries =
            std::fs::read_dir(root).with_context(|| format!("reading models directory {}", root.display()))?;
        let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
        dirs.sort();
        for d in dirs {
            // Hidden directories: unfinished uploads (see `remove_partial_uploads`), or not ours.
            if d.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
                || !zkinfer_circuits::bundle::Bundle::new(&d).setup_json().is_file()
            {
                continue;
            }
            let name = d.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            match self.load(&d, &name, max_k) {
                Ok(_) => loaded += 1,
                Err(e) => failed.push(format!("{}: {e:#}", d.display())),
            }
        }
        Ok((loaded, failed))
    }

    /// The model `id` (`0x` + 64 hex, any case).
    pub fn get(&self, id: &str) -> Option<Arc<ServedModel>> {
        self.map.read().unwrap_or_else(|p| p.into_inner()).get(&id.to_ascii_lowercase()).cloned()
    }

    /// The model whose directory is named `name`.
    pub fn by_name(&self, name: &str) -> Option<Arc<ServedModel>> {
        self.map.read().unwrap_or_else(|p| p.into_inner()).values().find(|m| m.name == name).cloned()
    }

    /// All served models, by name.
    pub fn all(&self) -> Vec<Arc<ServedModel>> {
        let mut v: Vec<_> = self.map.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

/// Removes the directories of uploads that never finished (the node stopped
/// or the disk filled while one was written or checked); returns how many.
pub fn remove_partial_uploads(root: &Path) -> Result<usize> {
    let mut removed = 0;
    let entries = std::fs::read_dir(root).with_context(|| format!("reading models directory {}", root.display()))?;
    for e in entries.filter_map(|e| e.ok()) {
        if e.file_name().to_string_lossy().starts_with(UPLOAD_PREFIX) {
            let p = e.path();
            let r = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            r.with_context(|| format!("removing the unfinished upload {}", p.display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Checks that a model name from a client is a plain directory name.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        || name.starts_with('.')
    {
        bail!("model name `{name}` must be 1-64 characters of [A-Za-z0-9_.-], not starting with a dot");
    }
    Ok(())
}
