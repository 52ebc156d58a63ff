"""cocotb testbenches (``tb_<block>.py``) and the stimulus they share with the Amaranth tests."""

__all__ = []
