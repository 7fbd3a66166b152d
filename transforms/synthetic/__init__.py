"""The synthetic year: its plan on the driver (plan) and its rows in Spark (rows)."""
