"""hwplan: the hardware plan (placeholder, filled in the next commit)."""
