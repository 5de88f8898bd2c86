"""Turn YAML, CSV or command-line names into validated `DomainTarget`s."""

from auditor.inventory.loader import load_inventory, targets_from_names

__all__ = ["load_inventory", "targets_from_names"]
