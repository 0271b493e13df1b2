//! An HRIS connector: pages through the directory. Replace `DIRECTORY` with requests to your HRIS through
//! `upward_plugin_sdk::connector::send` (it reaches only the manifest's `allowed_hosts`).

use upward_plugin_sdk::connector::{Employee, HrisConnector, Page};

/// (external id, email, name, department, level), two per page.
const DIRECTORY: &[(&str, &str, &str, &str, i32)] = &[
    ("E-1", "ana@example.com", "Ana", "Engineering", 2),
    ("E-2", "sam@example.com", "Sam", "Finance", 9),
    ("E-3", "lee@example.com", "Lee", "Legal", 5),
];

pub struct Plugin;

impl HrisConnector for Plugin {
    fn fetch_page(cursor: Option<String>) -> Result<Page, String> {
        let start: usize = cursor.as_deref().unwrap_or("0").parse().map_err(|_| "bad cursor".to_string())?;
        let end = (start + 2).min(DIRECTORY.len());
        let employees = DIRECTORY[start.min(end)..end]
            .iter()
            .map(|(id, email, name, department, level)| Employee {
                external_id: id.to_string(),
                email: email.to_string(),
                name: name.to_string(),
                department: Some(department.to_string()),
                title: None,
                level: Some(*level),
                manager_external_id: None,
                location: None,
                timezone: None,
                active: true,
            })
            .collect();
        Ok(Page { employees, next_cursor: (end < DIRECTORY.len()).then(|| end.to_string()) })
    }
}

upward_plugin_sdk::export_hris_connector!(Plugin);

#[cfg(test)]
mod tests {
    use super::Plugin;
    use upward_plugin_sdk::connector::HrisConnector;

    #[test]
    fn pages_follow_their_cursors() {
        let first = Plugin::fetch_page(None).unwrap();
        assert_eq!(first.employees.len(), 2);
        let last = Plugin::fetch_page(first.next_cursor).unwrap();
        assert_eq!(last.employees.len(), 1);
        assert_eq!(last.next_cursor, None);
    }
}
