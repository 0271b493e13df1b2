//! The `hris-connector` world: implement [`HrisConnector`] and export it with [`crate::export_hris_connector!`].
//! [`send`] is the only way out: the host lets it reach the manifest's `allowed_hosts` only.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "hris-connector",
        pub_export_macro: true,
        additional_derives: [PartialEq],
        export_macro_name: "__export_hris_connector_world",
        default_bindings_module: "upward_plugin_sdk::connector::bindings",
    });
}

pub use bindings::upward::plugin::http::{Request, Response};
pub use bindings::upward::plugin::types::{Employee, Page};

/// Pages through the HRIS directory.
pub trait HrisConnector {
    /// One page from the start (`None`) or from a cursor a previous page returned.
    fn fetch_page(cursor: Option<String>) -> Result<Page, String>;
}

/// Sends a request through the host (under `cargo test`, answered by [`crate::testing::respond`]).
pub fn send(request: Request) -> Result<Response, String> {
    #[cfg(target_arch = "wasm32")]
    {
        bindings::upward::plugin::http::send(&request)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        crate::testing::state(|s| {
            s.requests.push(request.url.clone());
            match s.responses.get(&request.url) {
                Some((status, body)) => Ok(Response {
                    status: *status,
                    headers: Vec::new(),
                    body: body.clone(),
                }),
                None => Err(format!(
                    "refused {}: no canned response (testing::respond)",
                    request.url
                )),
            }
        })
    }
}

/// A GET with no body.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Response, String> {
    send(Request {
        method: "GET".into(),
        url: url.into(),
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        body: None,
    })
}

/// Exports an [`HrisConnector`] as the component's `hris-connector` world.
#[macro_export]
macro_rules! export_hris_connector {
    ($connector:ty) => {
        // Natively the plugin is still "used", so its author sees no dead-code warnings under `cargo test`.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _ = <$connector as $crate::connector::HrisConnector>::fetch_page;
        };
        // Natively (`cargo test`) there is no component to export to: the harness calls the trait directly.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct UpwardConnectorExport;

            impl $crate::connector::bindings::exports::upward::plugin::directory::Guest for UpwardConnectorExport {
                fn fetch_page(cursor: Option<String>) -> Result<$crate::connector::Page, String> {
                    <$connector as $crate::connector::HrisConnector>::fetch_page(cursor)
                }
            }

            $crate::connector::bindings::__export_hris_connector_world!(UpwardConnectorExport with_types_in $crate::connector::bindings);
        };
    };
}
