"""The formal spec of each registered block, one module per block."""
