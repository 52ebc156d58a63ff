"""cocotb benches (``bench_<block>.py``) and the stimulus they share with the Amaranth tests."""

__all__ = []
