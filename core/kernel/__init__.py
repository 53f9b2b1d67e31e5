"""What every feature stands on and nothing in core imports the other way: the hook
specifications, the types plugins return, the core's default plugin, errors, statuses and the
one clock. Modules here import nothing from core outside ``core.kernel``."""
