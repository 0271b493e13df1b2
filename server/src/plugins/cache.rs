//! Compiled components, by content hash: in memory for this process, and serialized on disk (when a directory is
//! configured) so a restart or a second instance sharing the directory skips the compile. Artifacts are named with
//! the engine's compatibility hash, so an upgraded wasmtime never loads an old one.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Mutex;

use wasmtime::Engine;
use wasmtime::component::Component;

use super::PluginError;

/// Where a compiled component came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactSource {
    Memory,
    Disk,
    Compiled,
}

pub struct ComponentCache {
    engine: Engine,
    dir: Option<PathBuf>,
    fingerprint: String,
    memory: Mutex<HashMap<String, Component>>,
}

impl ComponentCache {
    pub fn new(engine: Engine, dir: Option<PathBuf>) -> ComponentCache {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        ComponentCache {
            engine,
            dir,
            fingerprint: format!("{:016x}", hasher.finish()),
            memory: Mutex::new(HashMap::new()),
        }
    }

    fn path(&self, sha256: &str) -> Option<PathBuf> {
        // The hash is ours (hex), never the caller's text, so it is safe as a file name.
        let sha256: String = sha256.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{sha256}-{}.cwasm", self.fingerprint)))
    }

    /// The compiled component if this process or the disk cache has it.
    pub fn get(&self, sha256: &str) -> Option<(Component, ArtifactSource)> {
        if let Some(c) = self.memory.lock().ok()?.get(sha256) {
            return Some((c.clone(), ArtifactSource::Memory));
        }
        let path = self.path(sha256)?;
        if !path.exists() {
            return None;
        }
        // SAFETY: the file was written by `compile` below, from `Component::serialize` of this engine
        // configuration (the name carries its compatibility hash), into a directory only this server writes.
        match unsafe { Component::deserialize_file(&self.engine, &path) } {
            Ok(component) => {
                self.remember(sha256, &component);
                Some((component, ArtifactSource::Disk))
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable compiled plugin");
                None
            }
        }
    }

    /// The compiled component, compiling `bytes` (and keeping the artifact) when neither cache has it. CPU-heavy: call
    /// it on the blocking pool.
    pub fn get_or_compile(&self, sha256: &str, bytes: &[u8]) -> Result<(Component, ArtifactSource), PluginError> {
        if let Some(hit) = self.get(sha256) {
            return Ok(hit);
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| PluginError::Compile(format!("{e:#}")))?;
        self.remember(sha256, &component);
        if let Some(path) = self.path(sha256) {
            // A failed write only costs a compile later.
            let written = component.serialize().map_err(|e| e.to_string()).and_then(|artifact| {
                std::fs::create_dir_all(path.parent().unwrap_or(&path)).map_err(|e| e.to_string())?;
                // Written aside and renamed, so a reader never sees half an artifact.
                let partial = path.with_extension(format!("partial-{}", uuid::Uuid::now_v7()));
                std::fs::write(&partial, artifact).map_err(|e| e.to_string())?;
                std::fs::rename(&partial, &path).map_err(|e| e.to_string())
            });
            if let Err(e) = written {
                tracing::warn!(path = %path.display(), error = %e, "could not keep a compiled plugin on disk");
            }
        }
        Ok((component, ArtifactSource::Compiled))
    }

    fn remember(&self, sha256: &str, component: &Component) {
        if let Ok(mut memory) = self.memory.lock() {
            memory.insert(sha256.to_string(), component.clone());
        }
    }

    /// Forgets a component in this process (after its plugin was deleted); the disk artifact stays for any other
    /// plugin with the same bytes.
    pub fn forget(&self, sha256: &str) {
        if let Ok(mut memory) = self.memory.lock() {
            memory.remove(sha256);
        }
    }
}
