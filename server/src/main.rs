//! The `upward` command: `serve` (the default), `migrate`, `backup`, `restore`, `openapi`, `org create`,
//! `keys rotate`, `secrets rotate`, `audit verify`, `plugin run`, `plugin new`.

use std::io::Write;

/// mimalloc instead of glibc's allocator: a profile of the hot read put ~18% of the server's time in glibc's malloc
/// and free (many small, short-lived allocations per request, across worker threads), where mimalloc's thread-local
/// free lists are several times cheaper.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod scaffold;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use upward_server::{Application, Config, StartError};

#[derive(Parser)]
#[command(
    name = "upward",
    version,
    about = "Upward: a headless REST server for reverse-mentoring programmes"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Write a consistent backup of the database to FILE while the servers keep serving (SQLite: VACUUM INTO, checked
    /// with integrity_check; PostgreSQL: pg_dump --format=custom). Prints what it wrote as JSON.
    Backup {
        /// The backup file to create (must not exist).
        #[arg(long, value_name = "FILE")]
        to: std::path::PathBuf,
    },
    /// Restore a backup into the configured database, which must be empty (SQLite: a file that does not exist yet;
    /// PostgreSQL: a database without Upward's tables, via pg_restore). Start the servers afterwards: pending
    /// migrations and webhook deliveries carry on from where the backup was taken.
    Restore {
        /// The backup file.
        #[arg(long, value_name = "FILE")]
        from: std::path::PathBuf,
    },
    /// Print the OpenAPI document as JSON.
    Openapi,
    /// Manage organisations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Manage the server's token-signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage the key that seals secrets and personal data at rest.
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// Check the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Work with plugin components locally.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Run a built component through the real host, with the server's default limits (or those given), and print its
    /// output and usage as JSON (exit code 1 when the plugin fails, 2 when it cannot run at all).
    Run(Box<PluginRun>),
    /// Create a plugin project that builds, tests and runs: a Rust crate on the SDK, or a Python app for
    /// componentize-py; with a sample input for `upward plugin run` and a README of the commands.
    New(PluginNew),
}

#[derive(clap::Args)]
struct PluginNew {
    /// The kind of plugin: matcher, survey-scorer or hris-connector.
    #[arg(long)]
    kind: String,
    /// The language: rust or python.
    #[arg(long, default_value = "rust")]
    lang: String,
    /// Where the SDK is (Rust): defaults to this checkout's plugin-sdk.
    #[arg(long)]
    sdk: Option<std::path::PathBuf>,
    /// The new project's folder (must not exist); its name becomes the plugin's.
    dir: std::path::PathBuf,
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organisation; prints its id, client_id and client_secret (shown this once) as JSON.
    Create {
        /// The organisation's display name.
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk every organisation's hash chain and report the first break of each as JSON (exit code 1 when any chain
    /// is broken: an entry edited, removed or reordered).
    Verify,
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Re-seal every sealed value (HRIS secrets, signing keys, notes, learnings, sensitive attributes) under a new
    /// key, in one transaction. The new key is read from FILE, or created there (owner-only) when FILE does not
    /// exist. Stop the servers first; afterwards start them with UPWARD_SECRETS_KEY_FILE=FILE (or the key in
    /// UPWARD_SECRETS_KEY) and keep the old key until a backup taken before the rotation is no longer needed.
    Rotate {
        /// Where the new key is (or is to be created).
        #[arg(long, value_name = "FILE")]
        to: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Start signing with a fresh key now; the old one keeps verifying until its tokens expire.
    Rotate,
}

/// What `--help` says about configuration: where it comes from, the database URL forms, and every setting with its
/// default (read from the configuration itself, so the list cannot drift).
fn configuration_help() -> String {
    let mut help = String::from(
        "Configuration, later sources winning: built-in defaults < upward.toml in the working directory (or the file\n\
         UPWARD_CONFIG names, which must exist) < UPWARD_* environment variables. A bad value stops start-up with\n\
         one line naming it.\n\n\
         Database URLs: sqlite://upward.db (the file is created if missing) or\n\
         postgres://user:password@host:5432/database\n\n\
         Settings (UPWARD_<NAME>=value, or name = value in upward.toml), with their defaults:\n",
    );
    for (name, default) in Config::documented() {
        help.push_str(&format!("  {name} = {default}\n"));
    }
    help.push_str("\nThe README's Configuration section says what each one does.");
    help
}

fn main() {
    let help = configuration_help();
    let matches = Cli::command()
        .after_long_help(help.clone())
        .mut_subcommand("serve", |serve| serve.after_long_help(help.clone()))
        .mut_subcommand("migrate", |migrate| migrate.after_long_help(help))
        .get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Some(Command::Openapi) = cli.command {
        // Needs no configuration and no database.
        let spec = upward_server::api::openapi()
            .to_pretty_json()
            .expect("the spec serialises");
        // A closed pipe (`upward openapi | head`) is not an error worth a panic.
        let _ = writeln!(std::io::stdout(), "{spec}");
        return;
    }
    if let Some(Command::Plugin {
        command: PluginCommand::New(request),
    }) = cli.command
    {
        match scaffold::create(&request.kind, &request.lang, request.sdk.as_deref(), &request.dir) {
            Ok(next) => {
                println!("{next}");
                std::process::exit(0);
            }
            Err(message) => fail(&message),
        }
    }
    if let Some(Command::Plugin {
        command: PluginCommand::Run(request),
    }) = cli.command
    {
        // Needs no configuration and no database either: only the host.
        match run_plugin(*request) {
            Ok((report, succeeded)) => {
                println!("{}", serde_json::to_string_pretty(&report).expect("serialises"));
                std::process::exit(if succeeded { 0 } else { 1 });
            }
            Err(message) => fail(&message),
        }
    }
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => fail(&e.to_string()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Migrate => {
                let db = upward_server::connect(&config).await.map_err(|e| e.to_string())?;
                db.migrate().await.map_err(|e| e.to_string())?;
                println!("migrations applied");
                Ok(())
            }
            Command::Backup { to } => {
                let db = upward_server::connect(&config).await.map_err(|e| e.to_string())?;
                let report = db
                    .backup_to(&config.database_url, &to)
                    .await
                    .map_err(|e| e.to_string())?;
                println!("{}", serde_json::to_string_pretty(&report).expect("serialises"));
                Ok(())
            }
            Command::Restore { from } => {
                let report = upward_server::store::backup::restore(&config.database_url, &from)
                    .await
                    .map_err(|e| e.to_string())?;
                println!("{}", serde_json::to_string_pretty(&report).expect("serialises"));
                Ok(())
            }
            Command::Org {
                command: OrgCommand::Create { name },
            } => {
                let db = connect_migrated(&config).await?;
                let created = upward_server::domain::organisations::create(&db, &name)
                    .await
                    .map_err(|e| describe(&e))?;
                println!("{}", serde_json::to_string_pretty(&created).expect("serialises"));
                Ok(())
            }
            Command::Keys {
                command: KeysCommand::Rotate,
            } => {
                let db = connect_migrated(&config).await?;
                let auth = upward_server::auth::Authenticator::new(db, &config)
                    .await
                    .map_err(|e| e.to_string())?;
                let kid = auth.keys().rotate().await.map_err(|e| e.to_string())?;
                println!("{}", serde_json::json!({ "kid": kid }));
                Ok(())
            }
            Command::Secrets {
                command: SecretsCommand::Rotate { to },
            } => {
                let db = connect_migrated(&config).await?;
                let from = upward_server::secrets::SecretBox::from_config(
                    config.secrets_key.as_deref(),
                    &config.secrets_key_file,
                )
                .map_err(|e| e.to_string())?;
                let next = upward_server::secrets::SecretBox::from_config(None, &to).map_err(|e| e.to_string())?;
                let counts = db.reseal_all(&from, &next).await.map_err(|e| e.to_string())?;
                println!(
                    "{}",
                    serde_json::json!({ "resealed": counts, "key_file": to,
                        "next": "restart every instance with UPWARD_SECRETS_KEY_FILE set to key_file" })
                );
                Ok(())
            }
            Command::Audit {
                command: AuditCommand::Verify,
            } => {
                let db = connect_migrated(&config).await?;
                let report = upward_server::domain::audit::verify(&db)
                    .await
                    .map_err(|e| e.to_string())?;
                println!("{}", serde_json::to_string_pretty(&report).expect("serialises"));
                if !report.ok {
                    std::process::exit(1);
                }
                Ok(())
            }
            Command::Openapi | Command::Plugin { .. } => unreachable!("handled above"),
        }
    });
    if let Err(message) = result {
        fail(&message);
    }
}

async fn connect_migrated(config: &Config) -> Result<upward_server::store::Db, String> {
    let db = upward_server::connect(config).await.map_err(|e| e.to_string())?;
    if config.migrate_on_start {
        db.migrate().await.map_err(|e| e.to_string())?;
    }
    let sealer =
        upward_server::secrets::SecretBox::from_config(config.secrets_key.as_deref(), &config.secrets_key_file)
            .map_err(|e| e.to_string())?;
    upward_server::secrets::install(std::sync::Arc::new(sealer));
    Ok(db)
}

fn describe(e: &upward_server::domain::DomainError) -> String {
    match e {
        upward_server::domain::DomainError::Invalid(errors) => errors
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let exporting = upward_server::telemetry::init(&config)?;
    let listen = config.listen.clone();
    let app = Application::build(config)
        .await
        .map_err(|e: StartError| e.to_string())?;
    tracing::info!(address = %listen, port = app.port(), "upward is serving");
    let served = app.run_until_stopped().await.map_err(|e| e.to_string());
    // The last spans are flushed before the process ends (the exporter blocks: off the async workers).
    if let Some(exporting) = exporting {
        let _ = tokio::task::spawn_blocking(move || exporting.shutdown()).await;
    }
    served
}

#[derive(clap::Args)]
struct PluginRun {
    /// The component (`.wasm`, built for wasm32-wasip2).
    #[arg(long)]
    wasm: std::path::PathBuf,
    /// Its kind: matcher, survey_scorer or hris_connector.
    #[arg(long)]
    kind: String,
    /// The input document (JSON), as `POST /v1/plugins/{id}/dry-run` takes it; `-` reads stdin.
    #[arg(long)]
    input: std::path::PathBuf,
    /// The plugin's configuration (JSON).
    #[arg(long, default_value = "{}")]
    config: String,
    /// A host a connector may reach (repeatable), as the manifest's `allowed_hosts`.
    #[arg(long = "allowed-host")]
    allowed_hosts: Vec<String>,
    /// A secret a connector may read, `NAME=VALUE` (repeatable).
    #[arg(long = "secret")]
    secrets: Vec<String>,
    /// Let a connector use plain `http` and private addresses (a fake directory on localhost).
    #[arg(long)]
    allow_insecure: bool,
    /// Fuel granted per item of the batch (the server's default: 20000). Python matchers need about 33,000 per scored
    /// pair.
    #[arg(long)]
    fuel_per_item: Option<u64>,
    /// Fuel per pair when a matcher explains (the server's default: 500000).
    #[arg(long)]
    explain_fuel_per_item: Option<u64>,
    /// Wall-clock budget of the invocation, in milliseconds (the server's default: 2000).
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Memory the plugin may grow to, in MiB (the server's default: 64).
    #[arg(long)]
    memory_mib: Option<u64>,
    /// Where compiled components are kept between runs, by content hash (the server's default directory, so both
    /// reuse one artifact): an 18 MB Python component compiles once, not on every run.
    #[arg(long, default_value = "upward-plugin-cache")]
    cache_dir: std::path::PathBuf,
    /// Compile in memory only, keeping nothing on disk.
    #[arg(long)]
    no_cache: bool,
}

/// `upward plugin run`: the same checks as an upload (world, contract version, imports), the same compile, and the
/// same invocation as a dry run. Returns the report and whether the plugin succeeded.
fn run_plugin(run: PluginRun) -> Result<(serde_json::Value, bool), String> {
    use upward_server::plugins::{self, Host, Kind, Limits, Network, inspect, run::Input};

    let kind = Kind::parse(&run.kind.replace('-', "_"))
        .ok_or_else(|| format!("--kind {}: expected matcher, survey_scorer or hris_connector", run.kind))?;
    let bytes = std::fs::read(&run.wasm).map_err(|e| format!("{}: {e}", run.wasm.display()))?;
    let shape = inspect::shape(&bytes).map_err(|e| format!("{}: {e}", run.wasm.display()))?;
    let problems = inspect::problems(kind, &shape);
    if !problems.is_empty() {
        return Err(format!(
            "{} is not a {}: {}",
            run.wasm.display(),
            kind.as_str(),
            problems.join("; ")
        ));
    }
    let input = if run.input.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("stdin: {e}"))?
    } else {
        std::fs::read_to_string(&run.input).map_err(|e| format!("{}: {e}", run.input.display()))?
    };
    let input: serde_json::Value =
        serde_json::from_str(&input).map_err(|e| format!("{}: not JSON: {e}", run.input.display()))?;
    let input = Input::parse(kind, input).map_err(|e| {
        format!(
            "{}: at {}: {} (not a {} input)",
            run.input.display(),
            e.path,
            e.message,
            kind.as_str()
        )
    })?;
    let config: serde_json::Value =
        serde_json::from_str(&run.config).map_err(|e| format!("--config: not JSON: {e}"))?;
    let mut network = Network {
        allowed_hosts: run.allowed_hosts,
        ..Network::default()
    };
    for secret in run.secrets {
        let (name, value) = secret
            .split_once('=')
            .ok_or_else(|| format!("--secret {secret}: expected NAME=VALUE"))?;
        network.secrets.insert(name.to_string(), value.to_string());
    }
    let defaults = Limits::default();
    let positive = |name: &str, value: Option<u64>| match value {
        Some(0) => Err(format!("--{name}: must be at least 1")),
        _ => Ok(value),
    };
    let memory_mib = positive("memory-mib", run.memory_mib)?.unwrap_or((defaults.memory_bytes >> 20) as u64);
    if memory_mib > 4096 {
        return Err("--memory-mib: at most 4096".into());
    }
    let limits = Limits {
        fuel_per_item: positive("fuel-per-item", run.fuel_per_item)?.unwrap_or(defaults.fuel_per_item),
        explain_fuel_per_item: positive("explain-fuel-per-item", run.explain_fuel_per_item)?
            .unwrap_or(defaults.explain_fuel_per_item),
        timeout: positive("timeout-ms", run.timeout_ms)?
            .map(std::time::Duration::from_millis)
            .unwrap_or(defaults.timeout),
        memory_bytes: (memory_mib as usize) << 20,
        ..defaults
    };
    let cache_dir = (!run.no_cache).then(|| run.cache_dir.clone());
    let guard = upward_server::net::Guard::new(run.allow_insecure, Vec::new());
    let host =
        Host::with(cache_dir, limits.memory_bytes.max(defaults.memory_bytes * 4), guard).map_err(|e| e.to_string())?;
    let sha256 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    // Connectors reach the network through the host's async client: run on a runtime's blocking pool, as the server does.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let reference = run.wasm.display().to_string();
    let (result, invocation, source) = runtime
        .block_on(runtime.spawn_blocking(move || {
            let (component, source) = host.cache.get_or_compile(&sha256, &bytes)?;
            host.check_world(kind, &component)?;
            plugins::run::invoke(
                &host,
                &reference,
                &component,
                input,
                limits,
                config.to_string(),
                network,
            )
            .map(|(result, invocation)| (result, invocation, source))
        }))
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{} ({})", e, e.outcome()))?;
    let succeeded = result.is_ok();
    // Whether the component was compiled now or loaded from the cache (`disk`): a second run should say `disk`.
    let compiled = match source {
        plugins::ArtifactSource::Compiled => "compiled",
        plugins::ArtifactSource::Disk => "disk",
        plugins::ArtifactSource::Memory => "memory",
    };
    let mut report = serde_json::json!({ "usage": invocation.usage, "component": compiled });
    match result {
        Ok(output) => report["output"] = output,
        Err(e) => report["error"] = serde_json::json!({ "outcome": e.outcome(), "message": e.to_string() }),
    }
    Ok((report, succeeded))
}

/// One clear line on stderr, exit code 2: a bad configuration or an unreachable dependency is not a crash.
fn fail(message: &str) -> ! {
    eprintln!("upward: error: {message}");
    std::process::exit(2);
}
