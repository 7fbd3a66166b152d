"""Input formats, each mapped onto the contract's fields as text (see transforms.validate)."""
