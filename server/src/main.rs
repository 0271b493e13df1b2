//! The `upward` command: `serve` (the default), `migrate`, `openapi`, `org create`, `keys rotate`.

use std::io::Write;

use clap::{Parser, Subcommand};
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
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organisation; prints its id, client_id and client_secret (shown this once) as JSON.
    Create {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Start signing with a fresh key now; the old one keeps verifying until its tokens expire.
    Rotate,
}

fn main() {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        // Needs no configuration and no database.
        let spec = upward_server::api::openapi()
            .to_pretty_json()
            .expect("the spec serialises");
        // A closed pipe (`upward openapi | head`) is not an error worth a panic.
        let _ = writeln!(std::io::stdout(), "{spec}");
        return;
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
            Command::Openapi => unreachable!("handled above"),
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
    upward_server::telemetry::init(&config);
    let listen = config.listen.clone();
    let app = Application::build(config)
        .await
        .map_err(|e: StartError| e.to_string())?;
    tracing::info!(address = %listen, port = app.port(), "upward is serving");
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

/// One clear line on stderr, exit code 2: a bad configuration or an unreachable dependency is not a crash.
fn fail(message: &str) -> ! {
    eprintln!("upward: error: {message}");
    std::process::exit(2);
}
