"""cocotb benches (``bench_<block>.py``) and the stimulus they share with Amaranth-simulator tests."""
