"""An HRIS connector in Python: pages through the directory. Replace DIRECTORY with requests to your HRIS through
`wit_world.imports.http.send` (it reaches only the manifest's `allowed_hosts`)."""

from typing import Optional

from wit_world import exports
from wit_world.imports import types

# (external id, email, name, department, level), two per page.
DIRECTORY = [
    ("E-1", "ana@example.com", "Ana", "Engineering", 2),
    ("E-2", "sam@example.com", "Sam", "Finance", 9),
    ("E-3", "lee@example.com", "Lee", "Legal", 5),
]


class Directory(exports.Directory):
    def fetch_page(self, cursor: Optional[str]) -> types.Page:
        start = int(cursor or "0")
        end = min(start + 2, len(DIRECTORY))
        employees = [
            types.Employee(external_id, email, name, department, None, level, None, None, None, True)
            for external_id, email, name, department, level in DIRECTORY[start:end]
        ]
        return types.Page(employees, str(end) if end < len(DIRECTORY) else None)
