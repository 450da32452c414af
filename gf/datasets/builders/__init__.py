"""Dataset builders, one per benchmark. Importing this package registers them."""
